//! `read_csv` end to end through real processes: RFC 4180 quotes read by
//! the tasks that own each split, the error a malformed line gives (file
//! and line number, though the task that finds it starts mid-file), and
//! separators of several bytes. Guards the CSV reader in `exec/`, the field
//! splitting of `job/csv.rs`, and the failure path from a task to the client.

mod common;

use std::fs;

use common::*;

#[test]
fn quoted_fields_are_read_whole_and_unquoted() {
    let (m, _workers) = cluster(2, &[], &["--slots", "1"]);
    let dir = temp_dir("csv-quotes");
    let mut text = String::from("id,name,note\n");
    let mut expected = Vec::new();
    // Enough lines for three splits, so that most are read mid-file.
    for i in 0..300 {
        match i % 5 {
            0 => {
                text.push_str(&format!("{i},\"Smith, John\",\"said \"\"hi\"\"\"\n"));
                expected.push(format!("{i}\tSmith, John|said \"hi\""));
            }
            1 => {
                text.push_str(&format!("{i},a\"b,\"\"\n"));
                expected.push(format!("{i}\ta\"b|"));
            }
            2 => {
                text.push_str(&format!("{i},,\"x,y,z\"\r\n"));
                expected.push(format!("{i}\t|x,y,z"));
            }
            3 => {
                text.push_str(&format!("{i},plain,line\n"));
                expected.push(format!("{i}\tplain|line"));
            }
            _ => {
                text.push_str(&format!("\"{i}\",\"\"\"\",\n"));
                expected.push(format!("{i}\t\"|"));
            }
        }
    }
    fs::write(dir.join("people.csv"), &text).unwrap();
    fs::write(
        dir.join("q.job"),
        "read_csv(\"people.csv\", \",\", true, splits=3)\n  .map($1, concat($2, \"|\", $3))\n  .save(\"out\")\n\
         read_csv(\"people.csv\", header=true, quotes=false)\n  .filter($1 == \"0\")\n  .map($3)\n  .save(\"raw\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "q.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(output_lines(&dir.join("out")), expected);
    // Without quotes, `"Smith, John"` is two fields and quotes stay.
    assert_eq!(output_lines(&dir.join("raw")), [" John\""]);
}

#[test]
fn an_unclosed_quote_names_the_file_and_line() {
    let (m, _workers) = cluster(2, &["--max-attempts", "1"], &["--slots", "1"]);
    let dir = temp_dir("csv-unclosed");
    let input = dir.join("orders.csv");
    let mut text = String::new();
    for i in 1..=400 {
        if i == 317 {
            text.push_str("317,\"Smith, John,9\n");
        } else {
            text.push_str(&format!("{i},\"user {i}\",{}\n", i % 7));
        }
    }
    fs::write(&input, &text).unwrap();
    fs::write(
        dir.join("o.job"),
        "param input\nread_csv(input, splits=4).map($2, $3).save(\"out\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &[
            "--master",
            &m.addr,
            "submit",
            "o.job",
            "--param",
            &p("input", &input),
            "--wait",
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let want = format!(
        "read_csv: {}:317: field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)",
        input.display()
    );
    assert!(stderr(&run).contains(&want), "{}", stderr(&run));

    // A closing quote followed by more than the separator.
    fs::write(&input, "1,ok\n\"2\"x,no\n").unwrap();
    let run = client_in(
        Some(&dir),
        &[
            "--master",
            &m.addr,
            "submit",
            "o.job",
            "--param",
            &p("input", &input),
            "--overwrite",
            "--wait",
        ],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let want = format!(
        "read_csv: {}:2: field 1 has \"x\" after its closing quote (a quoted field ends at the separator or the end of the line)",
        input.display()
    );
    assert!(stderr(&run).contains(&want), "{}", stderr(&run));
}

#[test]
fn separators_of_several_bytes_with_quotes() {
    let (m, _workers) = cluster(1, &[], &["--slots", "2"]);
    let dir = temp_dir("csv-sep");
    fs::write(dir.join("r.dat"), "1::10::5\n2::\"a::b\"::3\n3:::x::4\n").unwrap();
    fs::write(
        dir.join("s.job"),
        "read_csv(\"r.dat\", sep=\"::\").map($2, $3).save(\"out\")\n",
    )
    .unwrap();
    let run = client_in(
        Some(&dir),
        &["--master", &m.addr, "submit", "s.job", "--wait"],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(
        output_lines(&dir.join("out")),
        ["10\t5", "a::b\t3", ":x\t4"]
    );
}

//! `read_csv` end to end through real processes: RFC 4180 quotes read by
//! the tasks that own each split, the error a malformed line gives (file
//! and line number, though the task that finds it starts mid-file), and
//! separators of several bytes. Guards the CSV reader in `exec/`, the field
//! splitting of `job/csv.rs`, and the failure path from a task to the client.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;

/// `client submit JOB ... --wait` run in `dir`, so that the job's relative
/// paths are the client's; `extra` goes between the job file and `--wait`.
fn submit_in(dir: &Path, addr: &str, job: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--master", addr, "submit", job];
    args.extend_from_slice(extra);
    args.push("--wait");
    client_in(Some(dir), &args)
}

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
    let run = submit_in(&dir, &m.addr, "q.job", &[]);
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
    let run = submit_in(&dir, &m.addr, "o.job", &["--param", &p("input", &input)]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let want = format!(
        "read_csv: {}:317: field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)",
        input.display()
    );
    assert!(stderr(&run).contains(&want), "{}", stderr(&run));

    // A closing quote followed by more than the separator.
    fs::write(&input, "1,ok\n\"2\"x,no\n").unwrap();
    let run = submit_in(
        &dir,
        &m.addr,
        "o.job",
        &["--param", &p("input", &input), "--overwrite"],
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
    let run = submit_in(&dir, &m.addr, "s.job", &[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(
        output_lines(&dir.join("out")),
        ["10\t5", "a::b\t3", ":x\t4"]
    );
}

/// Writes `rows` (id, name, age) under a header whose columns come in the
/// order `order` (indexes into id, name, age), with an extra column after.
fn people(path: &Path, order: [usize; 3], rows: &[(u32, String, u32)]) {
    let header = ["id", "\"name\"", "age"];
    let mut text = order.map(|i| header[i]).join(",") + ",extra\n";
    for (id, name, age) in rows {
        let cells = [id.to_string(), format!("\"{name}\""), age.to_string()];
        text += &(order.map(|i| cells[i].clone()).join(",") + ",x\n");
    }
    fs::write(path, text).unwrap();
}

#[test]
fn header_names_find_each_files_columns() {
    let (m, _workers) = cluster(2, &[], &["--slots", "2"]);
    let dir = temp_dir("csv-header");
    let input = dir.join("people");
    fs::create_dir(&input).unwrap();
    let rows = |from: u32| -> Vec<(u32, String, u32)> {
        (from..from + 200)
            .map(|i| (i, format!("Smith, No. {i}"), 18 + i % 50))
            .collect()
    };
    let (a, b) = (rows(0), rows(1000));
    people(&input.join("a.csv"), [0, 1, 2], &a);
    people(&input.join("b.csv"), [2, 1, 0], &b);
    fs::write(
        dir.join("h.job"),
        "param input\n\
         read_csv(input, header=true, splits=6)\n  .filter(int($age) >= 60)\n  .map($id, concat($\"name\", \"|\", $age))\n  .save(\"out\")\n",
    )
    .unwrap();
    let run = submit_in(&dir, &m.addr, "h.job", &["--param", &p("input", &input)]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected: Vec<String> = a
        .iter()
        .chain(&b)
        .filter(|(_, _, age)| *age >= 60)
        .map(|(id, name, age)| format!("{id}\t{name}|{age}"))
        .collect();
    assert!(expected.len() > 20);
    assert_eq!(output_lines(&dir.join("out")), expected);
}

/// The client reads each input's header at submit: a file without a named
/// column is refused there, pointing at the name in the job, and nothing
/// runs.
#[test]
fn a_header_without_a_named_column_is_refused_at_submit() {
    let (m, _workers) = cluster(1, &[], &[]);
    let dir = temp_dir("csv-missing-column");
    let input = dir.join("people");
    fs::create_dir(&input).unwrap();
    people(&input.join("a.csv"), [0, 1, 2], &[(1, "ann".into(), 30)]);
    fs::write(input.join("b.csv"), "id,nme,age\n2,bob,40\n").unwrap();
    fs::write(input.join("c.csv"), "").unwrap();
    fs::write(
        dir.join("m.job"),
        "param input\nread_csv(input, header=true)\n  .map($id, $name)\n  .save(\"out\")\n",
    )
    .unwrap();
    let run = submit_in(&dir, &m.addr, "m.job", &["--param", &p("input", &input)]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    let want = format!(
        "m.job:3:13: error: column `name` is not in the header of {} (did you mean `nme`?); its columns are \"id\", \"nme\", \"age\"\n      .map($id, $name)\n                ^\n",
        input.join("b.csv").display()
    );
    assert_eq!(stderr(&run), want);
    assert!(stdout(&client(&["--master", &m.addr, "jobs"]))
        .trim()
        .is_empty());

    // A header with bad quotes names the file and its line 1.
    fs::write(input.join("b.csv"), "id,\"name,age\n2,bob,40\n").unwrap();
    let run = client_in(
        Some(&dir),
        &[
            "--master",
            &m.addr,
            "submit",
            "m.job",
            "--param",
            &p("input", &input),
        ],
    );
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert_eq!(
        stderr(&run),
        format!(
            "error: read_csv: {}:1: field 2 opens a quote that the line does not close (a record is one line: a quoted field cannot hold a newline)\n",
            input.join("b.csv").display()
        )
    );
}

/// Each task reads its own file's header when it runs: a header changed
/// after the job was accepted fails the job with the same message.
#[test]
fn a_header_changed_after_submit_fails_the_task() {
    let m = master(&["--max-attempts", "1"]);
    let dir = temp_dir("csv-changed-header");
    let input = dir.join("p.csv");
    people(&input, [0, 1, 2], &[(1, "ann".into(), 30)]);
    fs::write(
        dir.join("c.job"),
        "param input\nread_csv(input, header=true).map($id, $age).save(\"out\")\n",
    )
    .unwrap();
    // No worker yet: the job waits, checked, while its input changes.
    let run = client_in(
        Some(&dir),
        &[
            "--master",
            &m.addr,
            "submit",
            "c.job",
            "--param",
            &p("input", &input),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let id = stdout(&run).trim().to_string();
    fs::write(&input, "id,name\n1,ann\n").unwrap();
    let _w = worker(&m.addr, &[]);
    let end = wait_end(&m.addr, &id, std::time::Duration::from_secs(30));
    assert_eq!(end.state, "FAILED", "{}", end.text);
    let want = format!(
        "read_csv: column `age` is not in the header of {} (did you mean `name`?); its columns are \"id\", \"name\"",
        input.display()
    );
    assert!(end.error.ends_with(&want), "{}", end.error);
}

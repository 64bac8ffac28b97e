//! `client export`, run as a user runs it: the program on stdout or in a
//! file, params made defaults, refusals with the job file's place and exit
//! status 2; and the other half of the interchange with Spark: `read_text`
//! reads a Spark output directory as its lines, part files in number
//! order, and refuses gzip'd parts. (That the programs compute what the
//! jobs compute is `make spark-check`, which needs PySpark and a JVM.)

mod common;

use std::fs;

use common::{client, client_in, job_file, stderr, stdout, temp_dir};

#[test]
fn the_program_goes_to_stdout_or_to_the_file_of_dash_o() {
    let job = job_file("wordcount.job");
    let out = client(&["export", &job, "--to", "pyspark"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let program = stdout(&out);
    assert!(program.starts_with("#!/usr/bin/env python3\n"), "{program}");
    assert!(
        program.contains("\ndef job(args):\n    words = read_text(args.input)"),
        "{program}"
    );
    assert!(program.contains("\nPARAMS = {\n    \"input\": \"data/words.txt\",\n"));
    assert!(
        program.ends_with(&format!("    main(job, PARAMS, \"{job}\")\n")),
        "{program}"
    );

    let dir = temp_dir("export-o");
    let file = dir.join("wc.py");
    let file = file.to_str().unwrap();
    let out = client(&[
        "export",
        &job,
        "--to",
        "pyspark",
        "-o",
        file,
        "--param",
        "partitions=9",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = fs::read_to_string(file).unwrap();
    assert!(
        written.contains("    \"partitions\": \"9\",\n"),
        "{written}"
    );
    // `--to` is pyspark unless said otherwise.
    let default = client(&["export", &job]);
    assert_eq!(stdout(&default), program);
}

#[test]
fn refusals_name_the_place_and_exit_2() {
    let dir = temp_dir("export-refused");
    let job = dir.join("top.job");
    fs::write(
        &job,
        "param input = \"in\"\ncounts = read_text(input).map($0, 1).reduce_by_key(sum).take(10)\ncounts.save(\"o\")\n",
    )
    .unwrap();
    let out = client_in(Some(&dir), &["export", "top.job", "--to", "pyspark"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("top.job:2:57: error: `take` cannot be exported exactly: its input comes from `reduce_by_key` at line 2"),
        "{err}"
    );
    assert!(err.contains("\n    counts = read_text(input)"), "{err}");
    assert_eq!(stdout(&out), "");

    // A job with a mistake: the checker's message, as `submit` gives it.
    fs::write(&job, "read_text(\"a\").fliter(true).save(\"o\")\n").unwrap();
    let out = client_in(Some(&dir), &["export", "top.job"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .starts_with("top.job:1:16: error: unknown operator `fliter` (did you mean `filter`?)"),
        "{}",
        stderr(&out)
    );

    // An unknown param, as `submit` refuses it.
    let wc = job_file("wordcount.job");
    let out = client(&["export", &wc, "--param", "inptu=x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown param `inptu` given with --param (did you mean `input`?)"),
        "{}",
        stderr(&out)
    );

    // An engine there is no export to, and a file that is not there.
    let out = client(&["export", &wc, "--to", "flink"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot export to \"flink\": the engines are pyspark"),
        "{}",
        stderr(&out)
    );
    let out = client(&["export", "no/such.job"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: cannot read no/such.job: No such file"),
        "{}",
        stderr(&out)
    );
}

/// What Spark writes: part files named by number (five digits until there
/// are more), `_SUCCESS`, checksums, maybe a `_temporary/` left over.
fn spark_output(dir: &std::path::Path) {
    fs::create_dir_all(dir.join("_temporary/0")).unwrap();
    fs::write(dir.join("_temporary/0/part-00003"), "not committed\n").unwrap();
    for (name, text) in [
        ("part-00010-3a1b-c000.txt", "ten\n"),
        ("part-00002-3a1b-c000.txt", "two\nsecond line\n"),
        ("part-100000-3a1b-c000.txt", "a hundred thousand\n"),
        ("part-99999-3a1b-c000.txt", "ninety-nine thousand\n"),
        ("part-00000-3a1b-c000.txt", "zero\r\n"),
        ("_SUCCESS", ""),
        (".part-00002-3a1b-c000.txt.crc", "\x00\x01crc"),
        ("._SUCCESS.crc", "crc"),
    ] {
        fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn read_text_reads_a_spark_output_directory_unchanged() {
    let dir = temp_dir("export-spark-output");
    spark_output(&dir.join("spark"));
    fs::write(
        dir.join("copy.job"),
        "read_text(\"spark\").take(100).save(\"copy\")\n",
    )
    .unwrap();
    let out = client_in(Some(&dir), &["run", "copy.job", "--local", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = common::output_lines(&dir.join("copy"));
    assert_eq!(
        lines,
        [
            "zero",
            "two",
            "second line",
            "ten",
            "ninety-nine thousand",
            "a hundred thousand"
        ]
    );
}

#[test]
fn gzip_parts_are_refused_with_the_reason() {
    let dir = temp_dir("export-gzip");
    let spark = dir.join("spark");
    fs::create_dir_all(&spark).unwrap();
    fs::write(spark.join("part-00000.gz"), [0x1f, 0x8b, 0x08, 0x00, 0, 0]).unwrap();
    fs::write(spark.join("_SUCCESS"), "").unwrap();
    fs::write(
        dir.join("copy.job"),
        "read_text(\"spark\").save(\"copy\")\n",
    )
    .unwrap();
    let out = client_in(Some(&dir), &["run", "copy.job", "--local", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("part-00000.gz: compressed with gzip"), "{err}");
    assert!(err.contains("decompress it first"), "{err}");
    // By its bytes, whatever its name.
    fs::rename(spark.join("part-00000.gz"), spark.join("part-00000")).unwrap();
    let out = client_in(Some(&dir), &["run", "copy.job", "--local", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("starts with gzip's magic bytes"),
        "{}",
        stderr(&out)
    );
}

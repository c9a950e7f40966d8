use super::*;

#[test]
fn passphrase_is_never_printed() {
    let p = Passphrase::from("hunter2".to_string());
    assert_eq!(format!("{p:?}"), "Passphrase(***)");
    assert_eq!(format!("{:?}", Some(&p)), "Some(Passphrase(***))");
}

#[test]
fn a_line_loses_one_line_ending_only() {
    let cases: [(&[u8], &[u8]); 6] = [
        (b"pw\n", b"pw"),
        (b"pw\r\n", b"pw"),
        (b"pw", b"pw"),
        (b"pw \n", b"pw "),
        (b"pw\n\n", b"pw\n"),
        (b"\n", b""),
    ];
    for (line, expected) in cases {
        assert_eq!(Passphrase::from_line(line.to_vec()).as_bytes(), expected, "{line:?}");
    }
}

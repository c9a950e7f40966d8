//! Table tests over JWEs, tokens and advertisements made by the real clevis 19 / tang 11
//! (`testdata/`, see `testdata/README`). The Tang server's side of the exchange is computed
//! here from its key files in `testdata/db-*` (a stand-in for the network only; the host
//! integration test `agent/tests/tang.rs` runs the real server).

use super::jose::{b64_decode, b64_encode, EcJwk, Jwe};
use super::pin::{self, Pin, TangPin};
use super::{adv, cipher, ec, http, sss};
use crate::error::Result;
use serde_json::Value;
use std::path::Path;
use zeroize::Zeroizing;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tang/testdata").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The private scalar of the Tang key with this thumbprint, from the fixture databases.
fn private_key(kid: &str) -> Vec<u8> {
    for db in ["db-p521", "db-p256", "db-p384"] {
        let path = format!("{db}/{kid}.jwk");
        if Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tang/testdata").join(&path).exists() {
            let jwk: Value = serde_json::from_str(&data(&path)).unwrap();
            return b64_decode("d", jwk["d"].as_str().unwrap()).unwrap();
        }
    }
    panic!("no fixture key {kid}");
}

fn tang_shared(p: &TangPin) -> Result<Zeroizing<Vec<u8>>> {
    let d = private_key(&p.kid);
    ec::recover_z(&p.epk, &p.server_key, &mut |request| ec::server_answer(&d, request))
}

/// Decrypts like `super::decrypt`, with the server's answers computed locally.
fn decrypt_offline(jwe: &Jwe) -> Result<Zeroizing<Vec<u8>>> {
    match pin::parse(jwe)? {
        Pin::Tang(p) => cipher::open(jwe, &cipher::ecdh_es_key(jwe, &tang_shared(&p)?)?),
        Pin::Sss(p) => {
            let mut shares = Vec::new();
            for nested in &p.jwes {
                shares.push(decrypt_offline(&Jwe::parse(nested)?)?);
                if shares.len() == p.threshold {
                    break;
                }
            }
            cipher::open(jwe, &sss::recover(&p.prime, &shares)?)
        }
    }
}

#[test]
fn decrypts_what_clevis_made() {
    let table = [
        ("t.jwe", "hello secret"),
        ("p256.jwe", "p256 secret"),
        ("p384.jwe", "p384 secret"),
        ("kw.jwe", "kw secret"),
        ("s.jwe", "sss secret"),
    ];
    for (file, secret) in table {
        let jwe = Jwe::parse(&data(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let plain = decrypt_offline(&jwe).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(plain.as_slice(), secret.as_bytes(), "{file}");
    }
}

#[test]
fn decrypts_the_luks_token_to_the_slot_passphrase() {
    let token = data("token.json");
    let value: Value = serde_json::from_str(&token).unwrap();
    assert_eq!(super::token::keyslots(&value).unwrap(), vec![1]);
    let plain = decrypt_offline(&Jwe::parse(&token).unwrap()).unwrap();
    assert_eq!(plain.as_slice(), data("token.pass").as_bytes());
}

/// Re-encodes a compact JWE with its protected header changed by `edit`.
fn with_header(file: &str, edit: impl FnOnce(&mut Value)) -> String {
    let text = data(file);
    let mut parts: Vec<String> = text.trim().split('.').map(str::to_string).collect();
    let mut header: Value = serde_json::from_slice(&b64_decode("h", &parts[0]).unwrap()).unwrap();
    edit(&mut header);
    parts[0] = b64_encode(header.to_string().as_bytes());
    parts.join(".")
}

fn refusal(text: &str) -> String {
    match Jwe::parse(text).and_then(|jwe| decrypt_offline(&jwe)) {
        Ok(_) => panic!("accepted: {text:.60}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn refuses_what_it_cannot_or_must_not_decrypt() {
    let token = data("token.json");
    let table: Vec<(String, &str)> = vec![
        (token.replace(r#""type":"clevis""#, r#""type":"systemd-tpm2""#), "not a clevis token"),
        (r#"{"type":"clevis","keyslots":["1"]}"#.into(), "no \"jwe\" object"),
        ("a.b.c".into(), "expected 5 dot-separated parts, got 3"),
        ("!!.a.b.c.d".into(), "JWE protected header: not base64url"),
        (with_header("t.jwe", |h| h["alg"] = "RSA-OAEP".into()), "unsupported key algorithm \"RSA-OAEP\""),
        (with_header("t.jwe", |h| h["enc"] = "A128CBC-HS256".into()), "unsupported content encryption"),
        (with_header("t.jwe", |h| h["alg"] = "dir".into()), "clevis tang pin with key algorithm dir"),
        (with_header("t.jwe", |h| h["clevis"]["pin"] = "tpm2".into()), "tpm2 pin is not supported"),
        (with_header("t.jwe", |h| h["clevis"]["pin"] = "null".into()), "unsupported clevis pin \"null\""),
        (with_header("t.jwe", |h| drop(h.as_object_mut().unwrap().remove("clevis"))), "not a clevis JWE"),
        (
            with_header("t.jwe", |h| h["kid"] = "AAAA".into()),
            "kid AAAA is not a key of the pinned advertisement",
        ),
        (with_header("t.jwe", |h| h["epk"]["crv"] = "P-192".into()), "unsupported curve \"P-192\""),
        (with_header("t.jwe", |h| h["epk"]["y"] = h["epk"]["x"].clone()), "not a point on P-521"),
        (with_header("t.jwe", |h| h["zip"] = "DEF".into()), "(\"zip\") are not supported"),
        (with_header("s.jwe", |h| h["clevis"]["sss"]["t"] = 3.into()), "threshold 3 but only 2 JWEs"),
    ];
    for (text, want) in table {
        let got = refusal(&text);
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn refuses_a_tampered_payload() {
    let text = data("t.jwe");
    let mut parts: Vec<&str> = text.trim().split('.').collect();
    let mut ciphertext = b64_decode("c", parts[3]).unwrap();
    ciphertext[0] ^= 1;
    let ciphertext = b64_encode(&ciphertext);
    parts[3] = &ciphertext;
    assert!(refusal(&parts.join(".")).contains("AES-GCM does not authenticate"));
}

fn pinned(file: &str) -> Vec<EcJwk> {
    match pin::parse(&Jwe::parse(&data(file)).unwrap()).unwrap() {
        Pin::Tang(p) => p.pinned,
        Pin::Sss(_) => panic!("not a tang JWE"),
    }
}

fn edit_adv(file: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut adv: Value = serde_json::from_str(&data(file)).unwrap();
    edit(&mut adv);
    adv.to_string().into_bytes()
}

#[test]
fn advertisement_must_be_signed_by_a_pinned_key() {
    let p521 = pinned("t.jwe");
    let keys = adv::verify(data("adv.jws").as_bytes(), &p521).unwrap();
    assert_eq!(keys, p521);
    assert!(adv::verify(data("adv-p256.jws").as_bytes(), &pinned("p256.jwe")).is_ok());
    assert!(adv::verify(data("adv-p384.jws").as_bytes(), &pinned("p384.jwe")).is_ok());

    let flip_signature = |adv: &mut Value| {
        let mut sig = b64_decode("s", adv["signature"].as_str().unwrap()).unwrap();
        sig[10] ^= 1;
        adv["signature"] = b64_encode(&sig).into();
    };
    let other_payload = |adv: &mut Value| {
        adv["payload"] = serde_json::from_str::<Value>(&data("adv-p256.jws")).unwrap()["payload"].clone();
    };
    let rs256 = |adv: &mut Value| adv["protected"] = b64_encode(br#"{"alg":"RS256"}"#).into();
    let table: Vec<(Vec<u8>, &[EcJwk], &str)> = vec![
        (edit_adv("adv.jws", flip_signature), &p521, "ES512 signature does not verify"),
        (edit_adv("adv.jws", other_payload), &p521, "ES512 signature does not verify"),
        (edit_adv("adv.jws", rs256), &p521, "unsupported signature algorithm \"RS256\""),
        // Another server's (or the rotated) keys: signed, but not by a pinned key.
        (data("adv-p256.jws").into_bytes(), &p521, "not signed by a pinned key"),
        (b"<html>".to_vec(), &p521, "not a JSON object"),
        (edit_adv("adv.jws", |a| a["signatures"] = 1.into()), &p521, "not a list"),
    ];
    for (body, keys, want) in table {
        let got = adv::verify(&body, keys).map(|_| ()).unwrap_err().to_string();
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn general_form_advertisement_with_one_good_signature() {
    let flat: Value = serde_json::from_str(&data("adv.jws")).unwrap();
    let other: Value = serde_json::from_str(&data("adv-p256.jws")).unwrap();
    let sig = |v: &Value| serde_json::json!({"protected": v["protected"], "signature": v["signature"]});
    let general = serde_json::json!({"payload": flat["payload"], "signatures": [sig(&other), sig(&flat)]});
    assert!(adv::verify(general.to_string().as_bytes(), &pinned("t.jwe")).is_ok());
}

#[test]
fn wrong_server_answer_fails_authentication() {
    let jwe = Jwe::parse(&data("t.jwe")).unwrap();
    let Pin::Tang(p) = pin::parse(&jwe).unwrap() else { panic!() };
    // An answer made with another key of the same curve: a point, but the wrong one.
    let wrong = private_key("EOmVg_E9orQwYUPuXrGYnaWrKHaO73OKGSD9a9iEpLU");
    let z = ec::recover_z(&p.epk, &p.server_key, &mut |r| ec::server_answer(&wrong, r)).unwrap();
    let err = cipher::open(&jwe, &cipher::ecdh_es_key(&jwe, &z).unwrap()).unwrap_err();
    assert!(err.to_string().contains("does not authenticate"), "{err}");
    // An answer on another curve.
    let p256 = pinned("p256.jwe").remove(0);
    let err = ec::recover_z(&p.epk, &p.server_key, &mut |_| Ok(p256.clone())).unwrap_err();
    assert!(err.to_string().contains("answered with a key on P-256"), "{err}");
}

#[test]
fn sss_recovery() {
    // y = 5 + 3x over GF(11): shares (1, 8) and (2, 0); one more point than needed is fine.
    let share = |x: u8, y: u8| Zeroizing::new(vec![x, y]);
    let key = sss::recover(&[11], &[share(1, 8), share(2, 0)]).unwrap();
    assert_eq!(key.as_slice(), &[5]);
    let key = sss::recover(&[11], &[share(2, 0), share(4, 6), share(1, 8)]).unwrap();
    assert_eq!(key.as_slice(), &[5]);
    type Case = (Vec<u8>, Vec<Zeroizing<Vec<u8>>>, &'static str);
    let table: Vec<Case> = vec![
        (vec![11], vec![share(1, 8), share(1, 8)], "the same x"),
        (vec![11], vec![share(12, 8)], "not in the field"),
        (vec![11], vec![Zeroizing::new(vec![1, 2, 3])], "share 1 is 3 bytes, expected 2"),
        (vec![10], vec![share(1, 8)], "not an odd prime"),
        (vec![1; 33], vec![share(1, 8)], "the prime is 33 bytes"),
    ];
    for (p, shares, want) in table {
        let got = sss::recover(&p, &shares).unwrap_err().to_string();
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn http_answers() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/jose+json\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(http::parse_response(ok).unwrap(), Some(b"{}".to_vec()));
    assert_eq!(http::parse_response(&ok[..ok.len() - 1]).unwrap(), None);
    assert_eq!(http::parse_response(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap(), None);
    let table: &[(&[u8], &str)] = &[
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "answered 404 Not Found"),
        (b"HTTP/1.1 200 OK\r\n\r\n{}", "no Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", "larger than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{}", "1 bytes after its body"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP answer"),
    ];
    for (answer, want) in table {
        let got = http::parse_response(answer).unwrap_err().to_string();
        assert!(got.contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn urls() {
    let url = |host: &str, port, base: &str| http::Url { host: host.into(), port, base: base.into() };
    let table = [
        ("http://127.0.0.1:8765", url("127.0.0.1", 8765, "")),
        ("http://tang.example", url("tang.example", 80, "")),
        ("http://tang.example/", url("tang.example", 80, "")),
        ("http://[fd00::1]:7500/tang/", url("fd00::1", 7500, "/tang")),
        ("http://[fd00::1]", url("fd00::1", 80, "")),
    ];
    for (text, want) in table {
        assert_eq!(http::Url::parse(text).unwrap(), want, "{text}");
    }
    let bad = [
        ("https://tang.example", "https is not supported"),
        ("ftp://x", "not an http:// URL"),
        ("http://x:0", "bad port"),
        ("http://x:99999", "bad port"),
        ("http://[fd00::1", "unclosed ["),
        ("http://u@x", "user info"),
        ("http://:80", "no host"),
        ("http://x/\r\nX-Evil: 1", "control or non-ASCII"),
        ("http://x y", "spaces"),
    ];
    for (text, want) in bad {
        let got = http::Url::parse(text).unwrap_err().to_string();
        assert!(got.contains(want), "{text}: want {want:?}, got {got:?}");
    }
}

#[test]
fn thumbprint_is_the_file_name_tang_gives_the_key() {
    for (db, kid) in [
        ("db-p521", "dVuYzZajPYomHmt9XJ2H9myRK8CSCi2TPES37DnDxE4"),
        ("db-p256", "i6wPpWlllKQMGgxf4JV0N12lqs8TYnOJPUujTbguMk0"),
    ] {
        let jwk: Value = serde_json::from_str(&data(&format!("{db}/{kid}.jwk"))).unwrap();
        assert_eq!(EcJwk::from_value(&jwk).unwrap().thumbprint(), kid);
    }
}

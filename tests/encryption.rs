//! Encrypted instances on loopback: same key hears, wrong key and plaintext do not.

use std::time::Duration;

use eventcast::{Error, Eventcast};
use tokio::time::timeout;

async fn started(port: u16, f: impl FnOnce(eventcast::Builder) -> eventcast::Builder) -> Eventcast {
    let ec = f(Eventcast::builder().group("239.255.3.1").port(port).interface("127.0.0.1")).build().unwrap();
    ec.start().await.unwrap();
    ec
}

#[tokio::test]
async fn same_key_hears_wrong_key_and_plaintext_do_not() {
    let a = started(19301, |b| b.passphrase("correct horse battery staple")).await;
    let b = started(19301, |b| b.passphrase("correct horse battery staple")).await;
    let wrong = started(19301, |b| b.passphrase("another passphrase")).await;
    let plain = started(19301, |b| b).await;
    let raw = started(19301, |b| b.key(&[7; 32])).await;
    let mut sb = b.subscribe("**").unwrap();
    let mut sw = wrong.subscribe("**").unwrap();
    let mut sp = plain.subscribe("**").unwrap();
    let mut sr = raw.subscribe("**").unwrap();
    let blob = "y".repeat(20_000);
    a.emit("secret", &("hello", &blob)).await.unwrap();
    let ev = timeout(Duration::from_secs(5), sb.recv()).await.unwrap().unwrap();
    assert_eq!(ev.args::<(String, String)>().unwrap().1.len(), 20_000);
    for s in [&mut sw, &mut sp, &mut sr] {
        assert!(timeout(Duration::from_millis(300), s.recv()).await.is_err());
    }
    assert!(wrong.stats().await.protocol.dropped.forged > 0);
    assert!(raw.stats().await.protocol.dropped.unknown_key + raw.stats().await.protocol.dropped.forged > 0);
    assert!(plain.stats().await.protocol.dropped.sealed_without_key > 0);
    plain.emit("clear", &()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.stats().await.protocol.dropped.plaintext_refused > 0);
    assert!(sb.try_recv().is_none(), "plaintext never reaches an encrypting instance");
}

#[tokio::test]
async fn bad_keys_are_refused_without_showing_them() {
    let err = Eventcast::builder().interface("127.0.0.1").key(&[1; 20]).build().unwrap_err();
    assert!(matches!(err, Error::InvalidOption { option: "key", .. }));
    assert!(err.to_string().contains("16 (AES-128) or 32 (AES-256)"), "{err}");
    let err = Eventcast::builder().interface("127.0.0.1").passphrase("").build().unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let opts = Eventcast::builder().interface("127.0.0.1").passphrase("s3cret-words").build().unwrap();
    assert!(!format!("{:?}", opts.options()).contains("s3cret"));
}

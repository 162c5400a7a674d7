//! PostgreSQL over TLS (issue fault 16): the URL's `sslmode` and `sslrootcert` do what libpq
//! says. The test server (`scripts/postgres`) speaks TLS with a certificate for `localhost`
//! signed by a test CA; an unrelated CA sits beside it.

use std::path::PathBuf;

use arus_store::testing::postgres_database;

/// The test server's CA files, found from its certificate's path.
async fn ca_files(url: &str) -> (PathBuf, PathBuf) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    let connection = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT current_setting('ssl'), current_setting('ssl_cert_file')",
            &[],
        )
        .await
        .expect("settings");
    let (ssl, cert): (String, String) = (row.get(0), row.get(1));
    assert_eq!(
        ssl, "on",
        "the test server must speak TLS (scripts/postgres starts it so)"
    );
    drop(client);
    let _ = connection.await;
    let dir = PathBuf::from(cert)
        .parent()
        .expect("a directory")
        .to_path_buf();
    (dir.join("ca.crt"), dir.join("other-ca.crt"))
}

/// How many of the other connections to `database` are encrypted, and how many there are.
async fn encrypted(url: &str, database: &str) -> (i64, i64) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    let connection = tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            &[&database],
        )
        .await
        .expect("connections");
    drop(client);
    let _ = connection.await;
    (row.get(0), row.get(1))
}

fn with(url: &str, host: &str, query: &str) -> String {
    format!("{}?{query}", url.replacen("127.0.0.1", host, 1))
}

#[tokio::test]
async fn sslmode_and_sslrootcert_are_obeyed() {
    let Some(url) = postgres_database("arus_tls").await else {
        return;
    };
    let database = url.rsplit('/').next().expect("a name").to_string();
    let (ca, other) = ca_files(&url).await;
    let (ca, other) = (ca.display(), other.display());

    // verify-full: chained to the CA and naming the host.
    let full = with(
        &url,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let store = arus_store::open(&full)
        .await
        .expect("verified and connected");
    assert_eq!(store.station("CS1").await.expect("reads"), None);
    let (tls, all) = encrypted(&url, &database).await;
    assert!(
        all >= 2 && tls == all,
        "{tls} of {all} connections encrypted"
    );
    drop(store);

    // The certificate names `localhost`, not the address: verify-full refuses the address,
    // verify-ca (no name check) accepts it.
    let by_address = with(
        &url,
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let refused = arus_store::open(&by_address).await.err().expect("refused");
    assert!(
        refused.to_string().contains("certificate"),
        "the reason is the certificate: {refused}"
    );
    let ca_only = with(
        &url,
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    arus_store::open(&ca_only)
        .await
        .expect("verify-ca ignores the name");

    // A CA that signed nothing of the server's: refused.
    let unknown = with(
        &url,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    );
    let refused = arus_store::open(&unknown).await.err().expect("refused");
    assert!(refused.to_string().contains("certificate"), "{refused}");

    // require without a root encrypts without verifying; require with a root verifies.
    arus_store::open(&with(&url, "127.0.0.1", "sslmode=require"))
        .await
        .expect("require connects");
    let require_other = with(
        &url,
        "localhost",
        &format!("sslmode=require&sslrootcert={other}"),
    );
    assert!(arus_store::open(&require_other).await.is_err());
    // So does prefer (the default) once a root file is given, as libpq does.
    let prefer_other = with(&url, "localhost", &format!("sslrootcert={other}"));
    assert!(arus_store::open(&prefer_other).await.is_err());
    let prefer_ca = with(&url, "localhost", &format!("sslrootcert={ca}"));
    arus_store::open(&prefer_ca)
        .await
        .expect("prefer with the right root connects");

    // An sslmode libpq does not have is refused before connecting.
    let bad = arus_store::open(&with(&url, "127.0.0.1", "sslmode=sometimes"))
        .await
        .err()
        .expect("refused");
    assert!(bad.to_string().contains("sslmode"), "{bad}");
}

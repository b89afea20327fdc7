//! A rejected request leaves its connection usable: a client on keep-alive sends its next request on the same
//! connection, whether or not the server read the rejected request's body.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Server;

/// Send a request's head, then its body a moment later (a server that refuses the request from its head alone has
/// answered by then), read the answer, and send a second request on the same connection; return both status
/// lines.
async fn answer_then_next(s: &Server, head: &str, body: &str) -> (String, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n", body.len());
    tcp.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(body.as_bytes()).await.unwrap();
    let first = read_response(&mut tcp).await;
    let next = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let _ = tcp.write_all(next.as_bytes()).await;
    let second = read_response(&mut tcp).await;
    (first, second)
}

/// The status line of the next response, after reading its whole body; `""` if the connection ended first.
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        loop {
            if buf.ends_with(b"\r\n\r\n") {
                break;
            }
            match tcp.read(&mut byte).await {
                Ok(1) => buf.push(byte[0]),
                _ => return String::new(),
            }
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if tcp.read_exact(&mut body).await.is_err() {
            return String::new();
        }
        head.lines().next().unwrap_or_default().to_owned()
    };
    tokio::time::timeout(Duration::from_secs(5), read).await.unwrap_or_default()
}

#[tokio::test]
async fn rejected_requests_keep_the_connection_usable() {
    let s = Server::start().await;
    let body = r#"{"users":[{"user_id":"alice"}]}"#;
    let cases = [
        ("POST /v1/users HTTP/1.1\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json", "401"),
        ("PUT /v1/users HTTP/1.1\r\nContent-Type: application/json", "405"),
        ("POST /user/getToken.json HTTP/1.1\r\nApp-Key: nobody", "401"),
        ("POST /user/user_register HTTP/1.1\r\noperationID: op\r\ntoken: bogus", "200"),
        (
            "POST /v4/im_open_login_svc/account_import?sdkappid=1&identifier=a&usersig=x&contenttype=json HTTP/1.1",
            "200",
        ),
    ];
    for (head, status) in cases {
        let (first, second) = answer_then_next(&s, head, body).await;
        assert!(first.contains(status), "{head}: {first:?}");
        assert!(second.contains("200"), "{head}: the next request on the connection got {second:?}");
    }
}

//! The room server's local sign-in page (`authenticate/`) and `logout/`, as a browser and the
//! desktop app's login window use them: the form, the cookies it sets, `users/me/` answering
//! the name, refused foreign `returnTo`s and CSRF, then logout ending the session.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use room_server::{RoomServer, ServerConfig};
use visio_api::{ApiError, ClientOptions, VisioClient};

fn browser() -> Client {
    // No redirects followed and no jar: the test reads every header itself.
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// `name=value` of a `Set-Cookie` named `name`, with its attributes.
fn set_cookie<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// The hidden CSRF field of the sign-in page.
fn form_token(page: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    let start = page.find(marker).expect("csrf field") + marker.len();
    page[start..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn sign_in_page_opens_a_named_session_and_logout_ends_it() {
    let server = RoomServer::start(ServerConfig::ephemeral())
        .await
        .expect("server");
    let origin = format!("http://{}", server.http_addr());
    let http = browser();
    let auth = format!("{origin}/api/v1.0/authenticate/");
    let return_to = format!("{origin}/abc-defg-hij");

    // The page: a form with a name field, the safe returnTo and a CSRF token in a cookie.
    let page = http
        .get(&auth)
        .query(&[("returnTo", return_to.as_str())])
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let csrf_cookie = set_cookie(&page, "csrftoken")
        .expect("csrf cookie")
        .to_owned();
    assert!(
        !csrf_cookie.contains("HttpOnly"),
        "the form's token is readable"
    );
    let csrf = value(&csrf_cookie).to_owned();
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<input id="name" name="name""#), "{html}");
    assert!(html.contains(&format!(r#"name="returnTo" value="{return_to}""#)));
    assert_eq!(form_token(&html), csrf);

    let post = |name: &str, return_to: &str, token: &str, cookie: String| {
        http.post(&auth)
            .header(COOKIE, cookie)
            .form(&[
                ("name", name),
                ("returnTo", return_to),
                ("csrfmiddlewaretoken", token),
            ])
            .send()
    };

    // Without the matching CSRF cookie the form is refused and nothing is opened.
    let forged = post("Mallory", &return_to, &csrf, String::new())
        .await
        .expect("post");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "sessionid").is_none());
    assert!(forged.text().await.expect("html").contains("CSRF"));

    // An empty name: the form again, with the reason.
    let empty = post("  ", &return_to, &csrf, format!("csrftoken={csrf}"))
        .await
        .expect("post");
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&empty, "sessionid").is_none());
    assert!(empty.text().await.expect("html").contains("Enter a name"));

    // Signed in: redirected to returnTo, an HttpOnly session cookie, users/me/ says the name.
    let signed = post(
        "Camille Martin",
        &return_to,
        &csrf,
        format!("csrftoken={csrf}"),
    )
    .await
    .expect("post");
    assert_eq!(signed.status(), StatusCode::FOUND);
    assert_eq!(signed.headers()[LOCATION], return_to.as_str());
    let session = set_cookie(&signed, "sessionid")
        .expect("session")
        .to_owned();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    let sessionid = value(&session).to_owned();
    assert!(sessionid.len() >= 43, "a 256-bit secret");
    let new_csrf = value(set_cookie(&signed, "csrftoken").expect("csrf")).to_owned();

    let client =
        VisioClient::new(&origin.parse().expect("url"), ClientOptions::default()).expect("client");
    assert!(matches!(
        client.me().await,
        Err(ApiError::Unauthorized { .. })
    ));
    client.set_cookie("sessionid", &sessionid);
    client.set_cookie("csrftoken", &new_csrf);
    let me = client.me().await.expect("users/me/");
    assert_eq!(me.full_name.as_deref(), Some("Camille Martin"));
    // The session is a user: it creates and owns a room (CSRF from the new cookie).
    let room = client
        .create_room(None, visio_api::AccessLevel::Restricted)
        .await
        .expect("room created by the signed-in user");
    assert!(room.livekit.is_some(), "the owner joins directly");

    // Foreign or scheme-relative returnTo: redirected home instead.
    for foreign in [
        "https://evil.example/",
        "//evil.example/x",
        "javascript:alert(1)",
    ] {
        let r = post("Eve", foreign, &csrf, format!("csrftoken={csrf}"))
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::FOUND, "{foreign}");
        assert_eq!(r.headers()[LOCATION], "/", "{foreign}");
    }
    // The foreign returnTo is not even echoed into the page.
    let page = http
        .get(&auth)
        .query(&[("returnTo", "https://evil.example/")])
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("evil.example"));
    assert!(page.contains(r#"name="returnTo" value="/""#));

    // Logout (GET, as Visio's web app navigates to it): session gone, cookies cleared.
    let out = http
        .get(format!("{origin}/api/v1.0/logout/"))
        .header(COOKIE, format!("sessionid={sessionid}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::FOUND);
    let cleared = set_cookie(&out, "sessionid").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(matches!(
        client.me().await,
        Err(ApiError::Unauthorized { .. })
    ));
}

//! `visio-desktop`: the desktop app. The Tauri 2 shell and its web UI arrive with the desktop
//! app issue; until then this binary only tells where to look.

fn main() {
    eprintln!(
        "visio-desktop: the desktop shell is not built yet; use `visio serve` and `make run`."
    );
    std::process::exit(2);
}

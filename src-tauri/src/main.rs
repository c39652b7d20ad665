//! `visio-desktop`: see the `visio_desktop` crate documentation.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    visio_desktop::run()
}

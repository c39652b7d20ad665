//! `visio devices`: the cameras, microphones and speakers this machine has, with the ids
//! `visio join --camera/--microphone/--speaker` take, for the app's device menus too.

use clap::Args;

#[derive(Args)]
pub struct DevicesArgs {
    /// One JSON array (`[{kind, id, label, default}]`) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<()> {
    let devices = engine::media::list_devices();
    if args.json {
        println!("{}", serde_json::to_string(&devices)?);
        return Ok(());
    }
    for kind in [
        engine::media::DeviceKind::Camera,
        engine::media::DeviceKind::Microphone,
        engine::media::DeviceKind::Speaker,
    ] {
        let of_kind: Vec<_> = devices.iter().filter(|d| d.kind == kind).collect();
        let title = match kind {
            engine::media::DeviceKind::Camera => "cameras",
            engine::media::DeviceKind::Microphone => "microphones",
            engine::media::DeviceKind::Speaker => "speakers",
        };
        println!("{title}:");
        if of_kind.is_empty() {
            println!("  (none)");
        }
        for d in of_kind {
            let mark = if d.default { " (default)" } else { "" };
            if d.id == d.label {
                println!("  {}{mark}", d.id);
            } else {
                println!("  {}  {}{mark}", d.id, d.label);
            }
        }
    }
    Ok(())
}

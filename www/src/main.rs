//! `www`: the local GitLab.com stand-in. See README.md.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use www::cli::USAGE;
use www::{Command, Options, Server};

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("www: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("www: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exit_with_parent = opts.exit_with_parent;
    let parent = std::os::unix::process::parent_id();
    runtime.block_on(async move {
        let server = match Server::bind(opts).await {
            Ok(s) => s,
            Err(message) => {
                eprintln!("www: {message}");
                return ExitCode::FAILURE;
            }
        };
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("www: cannot watch SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
        server.announce();
        // --exit-with-parent: the parent is gone when we are re-parented (to init or a
        // subreaper), as when a test runner is killed outright.
        let orphaned = async move {
            if !exit_with_parent {
                return std::future::pending::<()>().await;
            }
            while std::os::unix::process::parent_id() == parent {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };
        let shutdown = async move {
            let mut ctrl_c = pin!(tokio::signal::ctrl_c());
            let mut orphaned = pin!(orphaned);
            poll_fn(|cx| {
                if ctrl_c.as_mut().poll(cx).is_ready()
                    || term.poll_recv(cx).is_ready()
                    || orphaned.as_mut().poll(cx).is_ready()
                {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        };
        server.run(shutdown).await;
        ExitCode::SUCCESS
    })
}

//! One module per subcommand that is more than a call into `app`.

pub mod admin;
pub mod keygen;
pub mod sync;

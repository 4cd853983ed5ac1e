// `sqlx::migrate!` embeds the migrations at compile time, and stable Rust cannot tell Cargo that
// the macro read them: without this, a new migration file is silently left out until something
// else in the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}

mod bank {
    esdsl_runtime::schema!("ui-schemas/manual.toml");
}

fn main() {}

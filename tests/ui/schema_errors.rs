mod bank {
    esdsl_runtime::schema!("ui-schemas/typos.toml");
}

fn main() {}

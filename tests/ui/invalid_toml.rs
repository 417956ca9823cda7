mod bank {
    esdsl_runtime::schema!("ui-schemas/syntax.toml");
}

fn main() {}

mod bank {
    esdsl_runtime::schema!("schemas/no_such_file.toml");
}

fn main() {}

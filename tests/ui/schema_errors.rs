mod bank {
    esdsl_runtime::schema!("../../../../tests/ui/schemas/typos.toml");
}

fn main() {}

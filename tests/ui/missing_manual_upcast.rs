mod bank {
    esdsl_runtime::schema!("../../../../tests/ui/schemas/manual.toml");
}

fn main() {}

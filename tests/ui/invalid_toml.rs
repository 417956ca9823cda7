mod bank {
    esdsl_runtime::schema!("../../../../tests/ui/schemas/syntax.toml");
}

fn main() {}

mod bank {
    esdsl_runtime::schema!(schemas::bank);
}

fn main() {}

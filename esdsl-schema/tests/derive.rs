//! The derives' expansions: snapshots of the formatted code for each derive, and every
//! attribute error of one input reported together. Review a changed snapshot like code.

fn expand(
    derive: fn(&syn::DeriveInput) -> proc_macro2::TokenStream,
    input: syn::DeriveInput,
) -> String {
    let tokens = derive(&input);
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses as items");
    prettyplease::unparse(&file)
}

#[test]
fn event_expansion() {
    let input: syn::DeriveInput = syn::parse_quote! {
        #[event(aggregate = "Cart", retired(name = "CouponApplied", versions(v1::CouponApplied)))]
        pub enum CartEvent {
            /// Units of an item were added.
            #[event(history(v1::ItemAdded))]
            ItemAdded(ItemAdded),
            #[event(renamed_from = "ItemDropped")]
            ItemRemoved(ItemRemoved),
            #[event(history(v1::CheckedOut, v2::CheckedOut), upcast(v2 = from, v3 = with(crate::pay)))]
            CheckedOut(CheckedOut),
        }
    };
    insta::assert_snapshot!(expand(esdsl_schema::derive::event, input));
}

#[test]
fn record_expansion() {
    let input: syn::DeriveInput = syn::parse_quote! {
        #[record(upcast_from = v1::ItemAdded)]
        pub struct ItemAdded {
            pub sku: String,
            /// Was a `u32`.
            pub quantity: u64,
            #[record(renamed_from = "sku")]
            pub code: String,
            #[record(default)]
            pub note: Option<String>,
            #[record(default = 3)]
            pub boxes: u32,
        }
    };
    insta::assert_snapshot!(expand(esdsl_schema::derive::record, input));
}

#[test]
fn enum_and_aggregate_expansions() {
    let input: syn::DeriveInput = syn::parse_quote! {
        /// How it was paid.
        #[serde(rename_all = "snake_case")]
        pub enum Payment { Card, BankTransfer, #[serde(rename = "cash")] Coins }
    };
    insta::assert_snapshot!("enum", expand(esdsl_schema::derive::enumeration, input));
    let input: syn::DeriveInput = syn::parse_quote! {
        /// A cart.
        #[aggregate(id = u64, events = CartEvent, command = Command, error = Refused, snapshot_version = 2)]
        pub(crate) struct Cart { items: u32 }
    };
    insta::assert_snapshot!("aggregate", expand(esdsl_schema::derive::aggregate, input));
}

/// The `compile_error!` messages of an expansion, in order.
fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
    let file: syn::File = syn::parse2(tokens).expect("parses");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m)
                if m.mac.path.is_ident("compile_error")
                    || m.mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "compile_error") =>
            {
                let lit: syn::LitStr = m.mac.parse_body().expect("a message");
                Some(lit.value().lines().next().unwrap_or_default().to_owned())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_attribute_error_of_an_input_is_reported_at_once() {
    let input: syn::DeriveInput = syn::parse_quote! {
        #[event(aggregat = "Cart")]
        pub enum CartEvent {
            #[event(histroy(v1::A), version = 3)]
            A(A),
            #[event(upcast(v9 = manual), name = "A")]
            B(B),
            C,
        }
    };
    assert_eq!(
        errors(esdsl_schema::derive::event(&input)),
        [
            "unknown key `aggregat` in `#[event]`",
            "`#[derive(Event)]` needs the aggregate these events belong to",
            "unknown key `histroy` in `#[event]`",
            "event `A` is at `version = 3` but `history` lists 0 older versions",
            "`v9` is not a step of event `A`",
            "variant `C` must wrap one event struct",
            "two events are stored as `A`",
        ]
    );
    let input: syn::DeriveInput = syn::parse_quote! {
        #[serde(rename_all = "camelCase")]
        pub struct Opened {
            #[record(default)]
            pub owner: u8,
            #[serde(skip)]
            pub note: Option<String>,
            #[record(renamd_from = "x")]
            pub x: String,
        }
    };
    assert_eq!(
        errors(esdsl_schema::derive::record(&input)),
        [
            "`#[serde(rename_all)]` changes how the payload is stored, which the schema cannot describe",
            "field `owner` says where its value comes from, but the struct has no previous version",
            "`u8` is not a schema field type",
            "`#[serde(skip)]` changes how the payload is stored, which the schema cannot describe",
            "unknown key `renamd_from` in `#[record]`",
        ]
    );
}

#[test]
fn names_that_are_not_identifiers_are_errors_not_panics() {
    let input: syn::DeriveInput = syn::parse_quote! {
        #[aggregate(name = "My Cart", id = "u u")]
        pub struct Cart {}
    };
    assert_eq!(
        errors(esdsl_schema::derive::aggregate(&input)),
        [
            "aggregate name `My Cart` is not usable: it holds characters other than ASCII \
             letters, digits and `_`",
            "unknown id type `u u`"
        ]
    );
    let input: syn::DeriveInput = syn::parse_quote! {
        #[record(upcast_from = V1)]
        pub struct V2 {
            #[record(renamed_from = "not a field")]
            pub x: String,
        }
    };
    assert_eq!(
        errors(esdsl_schema::derive::record(&input)),
        ["`not a field` is not a field name"]
    );
}

// The program both builds share, included by each binary after its `schema` module and its
// three functions over `schema::Deposited` (`deposited`, `amount`, `describe`).
//
//   <bin> DIR open ID OWNER           open account ID
//   <bin> DIR deposit ID AMOUNT       deposit (the memo names the binary)
//   <bin> DIR balance ID              load the account: `balance B deposits N version V`
//   <bin> DIR project                 run the projection: `projected T handled H parked P`
//   <bin> DIR events                  every stored event as this program reads it
//   <bin> DIR work ID COUNT AMOUNT    COUNT times: deposit, load, project
//
// `ESDSL_ROLLING_CODEC=postcard` writes postcard (default JSON). Exit codes: 0 done; 3 the
// store holds events this program cannot read (it wrote nothing); 1 anything else.

use std::process::ExitCode;

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::projection::{
    HandlerError, Projection, ProjectionOptions, ReadModel, ReadModelView, StoreProjection,
    StoreRunner,
};
use esdsl_runtime::store::{EventRef, EventStore, Filter};
use esdsl_runtime::{Aggregate, Codec, Decoded, Error, ExecuteError, Repository};

use schema::{AccountEvent, AccountId, Opened};

const PROGRAM: &str = env!("CARGO_BIN_NAME");

#[derive(Debug, Default)]
struct Account {
    opened: bool,
    balance: i64,
    deposits: u64,
}

enum Command {
    Open(String),
    Deposit(i64),
}

#[derive(Debug)]
struct NotOpen;

impl std::fmt::Display for NotOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the account is not open")
    }
}

impl std::error::Error for NotOpen {}

impl Aggregate for Account {
    type Id = AccountId;
    type Event = AccountEvent;
    type Command = Command;
    type Error = NotOpen;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Opened(_) => self.opened = true,
            AccountEvent::Deposited(deposit) => {
                self.balance += amount(deposit);
                self.deposits += 1;
            }
        }
    }

    fn handle(&self, command: &Command) -> Result<Vec<AccountEvent>, NotOpen> {
        match command {
            Command::Open(owner) => Ok(vec![
                Opened {
                    owner: owner.clone(),
                }
                .into(),
            ]),
            Command::Deposit(_) if !self.opened => Err(NotOpen),
            Command::Deposit(cents) => Ok(vec![
                deposited(*cents, Some(format!("from {PROGRAM}"))).into(),
            ]),
        }
    }
}

/// The total of every deposit, kept in the store.
struct Totals;

impl Projection for Totals {
    type Event = AccountEvent;

    fn name(&self) -> &str {
        "totals"
    }
}

impl StoreProjection for Totals {
    fn apply(
        &mut self,
        model: &mut ReadModel<'_>,
        event: &AccountEvent,
        _recorded: EventRef<'_>,
    ) -> Result<(), HandlerError> {
        if let AccountEvent::Deposited(deposit) = event {
            let total: i64 = model.get_json("total")?.unwrap_or(0);
            model.put_json("total", &(total + amount(deposit)))?;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{PROGRAM}: {error}");
            let unreadable = matches!(
                error.downcast_ref::<Error>(),
                Some(Error::Undecodable { .. } | Error::Decode { .. })
            ) || matches!(
                error.downcast_ref::<ExecuteError<NotOpen>>(),
                Some(ExecuteError::Store(
                    Error::Undecodable { .. } | Error::Decode { .. }
                ))
            );
            ExitCode::from(if unreadable { 3 } else { 1 })
        }
    }
}

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn run(args: Vec<String>) -> Result<()> {
    let [dir, command, rest @ ..] = args.as_slice() else {
        return Err("usage: DIR COMMAND ARGS...".into());
    };
    let codec = match std::env::var("ESDSL_ROLLING_CODEC").as_deref() {
        Ok("postcard") => Codec::Postcard,
        _ => Codec::Json,
    };
    let store = LmdbStore::open(dir)?;
    let number = |at: usize| -> Result<i64> {
        let text = rest.get(at).ok_or("missing argument")?;
        Ok(text.parse()?)
    };
    let id = || -> Result<AccountId> { Ok(AccountId(u64::try_from(number(0)?)?)) };
    match command.as_str() {
        "open" => {
            let owner = rest.get(1).cloned().unwrap_or_default();
            accounts(&store, codec)?.execute(&id()?, &Command::Open(owner))?;
        }
        "deposit" => {
            accounts(&store, codec)?.execute(&id()?, &Command::Deposit(number(1)?))?;
        }
        "balance" => balance(&accounts(&store, codec)?, &id()?)?,
        "project" => project(&store)?,
        "events" => events(&store)?,
        "work" => {
            let repository = accounts(&store, codec)?;
            let (id, count, cents) = (id()?, number(1)?, number(2)?);
            for _ in 0..count {
                repository.execute(&id, &Command::Deposit(cents))?;
                repository.load(&id)?;
                project(&store)?;
            }
            balance(&repository, &id)?;
        }
        other => return Err(format!("unknown command `{other}`").into()),
    }
    Ok(())
}

/// The repository; `Repository::new` checks the store's catalog first.
fn accounts(store: &LmdbStore, codec: Codec) -> Result<Repository<Account, LmdbStore>, Error> {
    Ok(Repository::new(store.clone())?
        .with_codec(codec)
        .with_max_retries(1_000))
}

fn balance(accounts: &Repository<Account, LmdbStore>, id: &AccountId) -> Result<()> {
    let loaded = accounts.load(id)?;
    println!(
        "balance {} deposits {} version {}",
        loaded.state.balance, loaded.state.deposits, loaded.version
    );
    Ok(())
}

fn project(store: &LmdbStore) -> Result<()> {
    let mut runner = StoreRunner::new(store.clone(), Totals, ProjectionOptions::default())?;
    let report = runner.run_until_caught_up()?;
    let total: i64 = ReadModelView::new(store, "totals")
        .get(b"total")?
        .map(|bytes| esdsl_runtime::Codec::Json.decode(&bytes))
        .transpose()?
        .unwrap_or(0);
    println!(
        "projected {total} handled {} parked {}",
        report.handled, report.parked
    );
    Ok(())
}

fn events(store: &LmdbStore) -> Result<()> {
    for recorded in store.read_all(1, &Filter::all(), usize::MAX)? {
        let recorded = recorded?;
        let (event, how) = match recorded.decode::<AccountEvent>()? {
            Decoded::Event(event) => (event, String::new()),
            Decoded::Newer {
                event,
                stored_version,
            } => (event, format!(" (newer: v{stored_version})")),
            Decoded::Skipped => continue,
        };
        let text = match &event {
            AccountEvent::Opened(opened) => format!("owner={}", opened.owner),
            AccountEvent::Deposited(deposit) => describe(deposit),
        };
        println!(
            "{} v{}{how} {text}",
            recorded.event_type, recorded.schema_version
        );
    }
    Ok(())
}

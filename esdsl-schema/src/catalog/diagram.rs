//! An aggregate's events as an inline SVG: the aggregate on the left, one row per event with
//! its versions in order, each step drawn as automatic (solid), manual (dashed) or missing
//! (red). Event names link to their pages. Sizes come from the text lengths, so nothing is
//! measured at view time and the same schema always gives the same picture.

use std::fmt::Write as _;

use crate::model::{Aggregate, Event};

use super::diff::{self, Upcast};
use super::html::esc;

const ROW: usize = 40;
const CHAR: usize = 8;
const DOT: usize = 44;

/// The diagram; `href` gives an event's page.
pub(crate) fn aggregate(
    aggregate: &Aggregate,
    events: &[&Event],
    href: impl Fn(&str) -> String,
) -> String {
    let agg_width = aggregate.name.text.chars().count() * CHAR + 32;
    let name_width = events
        .iter()
        .map(|e| e.name.text.chars().count() * CHAR + 24)
        .max()
        .unwrap_or(80);
    let most_versions = events.iter().map(|e| e.versions.len()).max().unwrap_or(0);
    let name_x = agg_width + 60;
    let dots_x = name_x + name_width + 30;
    let width = dots_x + most_versions * DOT + 20;
    let height = (events.len() * ROW).max(ROW) + 20;
    let mid = height / 2;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{label}\">",
        label = esc(&format!("Events of {}", aggregate.name.text)),
    );
    let _ = writeln!(
        svg,
        "<rect x=\"4\" y=\"{y}\" width=\"{agg_width}\" height=\"30\" rx=\"6\" fill=\"#23324d\"/>\
         <text x=\"{tx}\" y=\"{ty}\" fill=\"#fff\" font-weight=\"600\">{name}</text>",
        y = mid - 15,
        tx = 20,
        ty = mid + 5,
        name = esc(&aggregate.name.text),
    );
    for (row, event) in events.iter().enumerate() {
        let y = 10 + row * ROW + ROW / 2;
        let _ = writeln!(
            svg,
            "<path d=\"M{x0} {mid} C{cx} {mid} {cx} {y} {x1} {y}\" fill=\"none\" stroke=\"#99a3b5\"/>",
            x0 = agg_width + 4,
            cx = agg_width + 34,
            x1 = name_x,
        );
        let (fill, dash) = if event.retired {
            ("#f6d8d8", " stroke-dasharray=\"4 3\"")
        } else {
            ("#e3e8f0", "")
        };
        let _ = writeln!(
            svg,
            "<a href=\"{href}\"><rect x=\"{name_x}\" y=\"{ry}\" width=\"{name_width}\" \
             height=\"26\" rx=\"4\" fill=\"{fill}\" stroke=\"#7d8799\"{dash}/>\
             <text x=\"{tx}\" y=\"{ty}\">{name}</text></a>",
            href = esc(&href(&event.name.text)),
            ry = y - 13,
            tx = name_x + 12,
            ty = y + 5,
            name = esc(&event.name.text),
        );
        for (i, version) in event.versions.iter().enumerate() {
            let cx = dots_x + i * DOT + 12;
            if i > 0 {
                let (stroke, dash) = match diff::between(event, &event.versions[i - 1], version).0 {
                    Upcast::Automatic => ("#4a9160", ""),
                    Upcast::Manual => ("#b58a1c", " stroke-dasharray=\"5 3\""),
                    Upcast::Missing => ("#c0392b", " stroke-dasharray=\"2 2\""),
                };
                let _ = writeln!(
                    svg,
                    "<line x1=\"{a}\" y1=\"{y}\" x2=\"{b}\" y2=\"{y}\" stroke=\"{stroke}\" \
                     stroke-width=\"2\"{dash}/>",
                    a = cx - DOT + 12,
                    b = cx - 12,
                );
            } else {
                let _ = writeln!(
                    svg,
                    "<line x1=\"{a}\" y1=\"{y}\" x2=\"{b}\" y2=\"{y}\" stroke=\"#ccd2dc\"/>",
                    a = name_x + name_width,
                    b = cx - 12,
                );
            }
            let newest = version.number == event.newest();
            let _ = writeln!(
                svg,
                "<a href=\"{href}#v{n}\"><circle cx=\"{cx}\" cy=\"{y}\" r=\"12\" fill=\"{fill}\" \
                 stroke=\"#23324d\"/><text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\" \
                 fill=\"{text}\">v{n}</text></a>",
                href = esc(&href(&event.name.text)),
                n = version.number,
                fill = if newest { "#23324d" } else { "#fff" },
                text = if newest { "#fff" } else { "#23324d" },
                ty = y + 4,
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

//! Quality of the ticket classifier on a labelled set of 660 hand-written tickets (10
//! categories, half Chinese, half English): trained on three quarters, measured on the rest.

use std::collections::BTreeMap;

use feedbackd::domain::classifier::Classifier;

struct Example {
    category: String,
    text: String,
}

/// The labelled set, split deterministically: every fourth ticket of each category and
/// language is held out.
fn split() -> (Vec<Example>, Vec<Example>) {
    let data = include_str!("data/labelled_tickets.tsv");
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for line in data.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [category, _team, lang, title, description] = fields[..] else {
            panic!("5 fields in {line:?}")
        };
        let n = seen
            .entry((category.to_owned(), lang.to_owned()))
            .or_default();
        *n += 1;
        let example = Example {
            category: category.to_owned(),
            text: format!("{title} {description}"),
        };
        if n.is_multiple_of(4) {
            test.push(example)
        } else {
            train.push(example)
        }
    }
    (train, test)
}

/// Held-out accuracy measured when the classifier was written: 0.750 (120 of 160; the
/// confusions are mostly payment/refund and account/privacy, which overlap in these
/// tickets). The test allows a small margin for harmless changes; a drop beyond it is a
/// regression.
const MEASURED_ACCURACY: f64 = 0.750;
const MARGIN: f64 = 0.03;

#[test]
fn held_out_accuracy_stays_where_it_was_measured() {
    let (train, test) = split();
    assert!(
        train.len() >= 480 && test.len() >= 150,
        "{} / {}",
        train.len(),
        test.len()
    );
    let model = Classifier::train(train.iter().map(|e| (e.text.as_str(), e.category.as_str())));

    let mut confusion: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut correct = 0;
    for example in &test {
        let predicted = model.classify(&example.text)[0].label.clone();
        correct += usize::from(predicted == example.category);
        *confusion
            .entry((example.category.as_str(), predicted))
            .or_default() += 1;
    }
    let accuracy = correct as f64 / test.len() as f64;
    println!(
        "held-out accuracy: {accuracy:.3} ({correct} of {})",
        test.len()
    );
    for ((actual, predicted), count) in confusion.iter().filter(|((a, p), _)| a != p) {
        println!("  {actual:>20} taken for {predicted:<20} {count}");
    }
    assert!(
        accuracy >= MEASURED_ACCURACY - MARGIN,
        "accuracy {accuracy:.3} fell below the measured {MEASURED_ACCURACY} minus {MARGIN}"
    );
}

/// The router's own training path, as RetrainClassifier runs it on resolved tickets: both
/// models (category and team) from the whole set, with every fifth ticket held out of a trial
/// model to measure them. Measured when written: category 0.765, team 0.773 (the file groups
/// tickets by category and language, so the fifth spreads over all of them).
#[test]
fn the_routing_model_measures_itself_on_a_held_out_fifth() {
    use feedbackd::domain::classifier::{Example, RoutingModel};
    let examples: Vec<Example> = include_str!("data/labelled_tickets.tsv")
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Example {
                text: format!("{}\n{}", fields[3], fields[4]),
                category: Some(fields[0].to_owned()),
                team: Some(fields[1].to_owned()),
            }
        })
        .collect();
    let training = RoutingModel::train(&examples);
    println!(
        "held-out fifth: category {:.3}, team {:.3}",
        training.category_accuracy, training.team_accuracy
    );
    assert!(training.category_accuracy >= 0.765 - MARGIN);
    assert!(training.team_accuracy >= 0.773 - MARGIN);
    assert_eq!(training.model.category.labels().len(), 10);
}

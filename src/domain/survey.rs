//! Satisfaction surveys: what a template asks, whether a response answers it, what the
//! answers mean for the ticket (a low score reopens it), and the figures read from many.

use std::collections::BTreeMap;

/// What kind of answer a question takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionKind {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    Rating,
    /// 0 to 10: how likely the customer is to recommend us.
    Nps,
    /// One of the options.
    Choice(Vec<String>),
    /// Free text, at most this many characters.
    Text(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Stable within its template, e.g. `result`, `attitude`, `timeliness`.
    pub key: String,
    pub prompt: String,
    pub kind: QuestionKind,
    pub required: bool,
}

/// The template installed on first start: the result, the attitude and the timeliness, each
/// rated 1–5, and an optional comment.
pub fn default_questions() -> Vec<Question> {
    let rating = |key: &str, prompt: &str| Question {
        key: key.to_owned(),
        prompt: prompt.to_owned(),
        kind: QuestionKind::Rating,
        required: true,
    };
    vec![
        rating(
            "result",
            "How satisfied are you with how your issue was resolved?",
        ),
        rating(
            "attitude",
            "How satisfied are you with the attitude of our staff?",
        ),
        rating(
            "timeliness",
            "How satisfied are you with how quickly we handled it?",
        ),
        Question {
            key: "comment".into(),
            prompt: "Anything else you would like to tell us?".into(),
            kind: QuestionKind::Text(2000),
            required: false,
        },
    ]
}

/// One answer as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Score(i32),
    Choice(String),
    Text(String),
}

/// A bad answer: the question's key and what is wrong.
pub type Problem = (String, String);

/// Checks `answers` (by question key) against the template; every problem is listed.
pub fn check_answers(
    questions: &[Question],
    answers: &BTreeMap<String, Answer>,
) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    for key in answers
        .keys()
        .filter(|k| !questions.iter().any(|q| &q.key == *k))
    {
        problems.push((key.clone(), "is not a question of this survey".to_owned()));
    }
    for q in questions {
        let problem = match (answers.get(&q.key), &q.kind) {
            (None, _) if q.required => Some("is required".to_owned()),
            (None, _) => None,
            (Some(Answer::Score(s)), QuestionKind::Rating) => {
                (!(1..=5).contains(s)).then(|| format!("{s} is not a rating from 1 to 5"))
            }
            (Some(Answer::Score(s)), QuestionKind::Nps) => {
                (!(0..=10).contains(s)).then(|| format!("{s} is not a score from 0 to 10"))
            }
            (Some(Answer::Choice(c)), QuestionKind::Choice(options)) => (!options.contains(c))
                .then(|| format!("{c:?} is not one of {}", options.join(", "))),
            (Some(Answer::Text(t)), QuestionKind::Text(max)) => {
                (t.chars().count() > *max).then(|| format!("is longer than {max} characters"))
            }
            (Some(_), kind) => Some(format!("takes {}", kind_name(kind))),
        };
        if let Some(problem) = problem {
            problems.push((q.key.clone(), problem));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn kind_name(kind: &QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Rating => "a rating from 1 to 5",
        QuestionKind::Nps => "a score from 0 to 10",
        QuestionKind::Choice(_) => "one of its options",
        QuestionKind::Text(_) => "text",
    }
}

/// What a response means for its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The customer is satisfied: close the ticket.
    Satisfied,
    /// A rating at or below the threshold: reopen, naming the low ratings.
    Dissatisfied { low: Vec<(String, i32)> },
}

/// A score at or below `threshold` on any rating question means the customer is not
/// satisfied (default threshold: 3).
pub fn verdict(
    questions: &[Question],
    answers: &BTreeMap<String, Answer>,
    threshold: i32,
) -> Verdict {
    let low: Vec<(String, i32)> = questions
        .iter()
        .filter(|q| q.kind == QuestionKind::Rating)
        .filter_map(|q| match answers.get(&q.key) {
            Some(Answer::Score(s)) if *s <= threshold => Some((q.key.clone(), *s)),
            _ => None,
        })
        .collect();
    if low.is_empty() {
        Verdict::Satisfied
    } else {
        Verdict::Dissatisfied { low }
    }
}

/// Figures over a set of responses.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub invitations: u64,
    pub responses: u64,
    /// Responses per invitation.
    pub response_rate: Option<f64>,
    /// Share of rating answers that are 4 or 5.
    pub csat: Option<f64>,
    /// Average rating per rating question.
    pub averages: BTreeMap<String, f64>,
    /// Promoters (9–10) minus detractors (0–6), as a percentage of NPS answers.
    pub nps: Option<f64>,
}

/// The figures of `responses` (each a response's answers) out of `invitations` sent.
pub fn stats(
    questions: &[Question],
    invitations: u64,
    responses: &[BTreeMap<String, Answer>],
) -> Stats {
    let scores = |kind: QuestionKind| -> Vec<(String, i32)> {
        let keys: Vec<&String> = questions
            .iter()
            .filter(|q| q.kind == kind)
            .map(|q| &q.key)
            .collect();
        responses
            .iter()
            .flat_map(|r| r.iter())
            .filter(|(k, _)| keys.contains(k))
            .filter_map(|(k, a)| match a {
                Answer::Score(s) => Some((k.clone(), *s)),
                _ => None,
            })
            .collect()
    };
    let share = |part: usize, whole: usize| (whole > 0).then(|| part as f64 / whole as f64);
    let ratings = scores(QuestionKind::Rating);
    let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (key, score) in &ratings {
        let (sum, n) = sums.entry(key.clone()).or_default();
        *sum += i64::from(*score);
        *n += 1;
    }
    let nps = scores(QuestionKind::Nps);
    let promoters = nps.iter().filter(|(_, s)| *s >= 9).count();
    let detractors = nps.iter().filter(|(_, s)| *s <= 6).count();
    Stats {
        invitations,
        responses: responses.len() as u64,
        response_rate: share(responses.len(), invitations as usize),
        csat: share(
            ratings.iter().filter(|(_, s)| *s >= 4).count(),
            ratings.len(),
        ),
        averages: sums
            .into_iter()
            .map(|(k, (sum, n))| (k, sum as f64 / n as f64))
            .collect(),
        nps: share(promoters, nps.len())
            .zip(share(detractors, nps.len()))
            .map(|(p, d)| (p - d) * 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(&str, Answer)]) -> BTreeMap<String, Answer> {
        pairs
            .iter()
            .map(|(k, a)| (k.to_string(), a.clone()))
            .collect()
    }

    fn template() -> Vec<Question> {
        let mut questions = default_questions();
        questions.push(Question {
            key: "nps".into(),
            prompt: "Recommend us?".into(),
            kind: QuestionKind::Nps,
            required: false,
        });
        questions.push(Question {
            key: "channel".into(),
            prompt: "How did you reach us?".into(),
            kind: QuestionKind::Choice(vec!["phone".into(), "app".into()]),
            required: false,
        });
        questions
    }

    #[test]
    fn every_kind_of_bad_answer_is_named() {
        let bad = answers(&[
            ("result", Answer::Score(6)),
            ("attitude", Answer::Text("great".into())),
            ("nps", Answer::Score(11)),
            ("channel", Answer::Choice("fax".into())),
            ("comment", Answer::Text("x".repeat(2001))),
            ("colour", Answer::Text("blue".into())),
        ]);
        let problems = check_answers(&template(), &bad).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "colour",
                "result",
                "attitude",
                "timeliness",
                "comment",
                "nps",
                "channel"
            ],
            "{problems:?}"
        );
        assert_eq!(problems[3].1, "is required");
        let good = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(4)),
            ("timeliness", Answer::Score(1)),
        ]);
        assert_eq!(check_answers(&template(), &good), Ok(()));
    }

    #[test]
    fn any_low_rating_means_dissatisfied() {
        let q = default_questions();
        let happy = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(4)),
            ("timeliness", Answer::Score(4)),
        ]);
        assert_eq!(verdict(&q, &happy, 3), Verdict::Satisfied);
        let unhappy = answers(&[
            ("result", Answer::Score(5)),
            ("attitude", Answer::Score(2)),
            ("timeliness", Answer::Score(3)),
        ]);
        assert_eq!(
            verdict(&q, &unhappy, 3),
            Verdict::Dissatisfied {
                low: vec![("attitude".into(), 2), ("timeliness".into(), 3)]
            }
        );
    }

    #[test]
    fn figures_match_a_hand_count() {
        let q = template();
        let responses = [
            answers(&[
                ("result", Answer::Score(5)),
                ("attitude", Answer::Score(4)),
                ("timeliness", Answer::Score(3)),
                ("nps", Answer::Score(10)),
            ]),
            answers(&[
                ("result", Answer::Score(2)),
                ("attitude", Answer::Score(5)),
                ("timeliness", Answer::Score(4)),
                ("nps", Answer::Score(6)),
            ]),
            answers(&[
                ("result", Answer::Score(4)),
                ("attitude", Answer::Score(1)),
                ("timeliness", Answer::Score(5)),
                ("nps", Answer::Score(8)),
            ]),
        ];
        let s = stats(&q, 4, &responses);
        assert_eq!(
            (s.invitations, s.responses, s.response_rate),
            (4, 3, Some(0.75))
        );
        // Ratings: 5 4 3 / 2 5 4 / 4 1 5 — six of nine are 4 or 5.
        assert_eq!(s.csat, Some(6.0 / 9.0));
        assert_eq!(s.averages["result"], 11.0 / 3.0);
        assert_eq!(s.averages["attitude"], 10.0 / 3.0);
        // NPS answers 10, 6, 8: one promoter, one detractor.
        assert_eq!(s.nps, Some(0.0));
        let empty = stats(&q, 0, &[]);
        assert_eq!(
            (empty.response_rate, empty.csat, empty.nps),
            (None, None, None)
        );
    }
}

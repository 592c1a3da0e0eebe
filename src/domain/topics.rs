//! Key phrases: what tickets about the same problem share in their words, in Chinese or in
//! English. Chinese runs give their character pairs (支付失败 → 支付, 付失, 失败), English
//! text its words of three letters or more that are not common filler ("payment failed" →
//! payment, failed). Top issues cluster tickets by the phrases they share.

use std::collections::BTreeSet;

/// At most this many phrases per ticket: the first ones in its text.
pub const MAX_PHRASES: usize = 48;

/// English words too common to tell problems apart.
const STOP_WORDS: &[&str] = &[
    "about", "after", "again", "all", "also", "and", "any", "are", "been", "before", "but", "can",
    "cannot", "could", "did", "does", "don", "for", "from", "get", "got", "had", "has", "have",
    "her", "him", "his", "how", "its", "just", "not", "now", "our", "out", "please", "she",
    "since", "still", "that", "the", "their", "them", "then", "there", "they", "this", "was",
    "were", "what", "when", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// Chinese pairs too common to tell problems apart (了, 的, 我 … joined to a neighbour).
const STOP_PAIRS: &[&str] = &[
    "我们", "你们", "他们", "一个", "没有", "什么", "怎么", "这个", "那个", "已经", "还是", "可以",
    "就是", "但是", "因为", "所以", "请问", "谢谢", "您好", "你好",
];

/// Particles and pronouns: a pair with one of them says nothing of the problem (失败了).
const FILLER_CHARS: &str = "的了吗呢吧啊是在我你他她它这那有和与就也都很";

/// Whether `c` is a CJK ideograph.
fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// The key phrases of `text`, in order of first appearance, without repeats.
pub fn key_phrases(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut phrases = Vec::new();
    let mut keep = |phrase: String, phrases: &mut Vec<String>| {
        if phrases.len() < MAX_PHRASES && seen.insert(phrase.clone()) {
            phrases.push(phrase);
        }
    };
    let mut han: Vec<char> = Vec::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_han(c) {
            han.push(c);
        } else {
            for pair in han.windows(2) {
                let pair: String = pair.iter().collect();
                let filler = pair.chars().any(|c| FILLER_CHARS.contains(c));
                if !filler && !STOP_PAIRS.contains(&pair.as_str()) {
                    keep(pair, &mut phrases);
                }
            }
            han.clear();
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            let w = std::mem::take(&mut word);
            let digits = w.chars().all(|c| c.is_ascii_digit());
            if w.len() >= 3 && !digits && !STOP_WORDS.contains(&w.as_str()) {
                keep(w, &mut phrases);
            }
        }
    }
    phrases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_gives_character_pairs_and_english_its_words() {
        assert_eq!(key_phrases("支付失败"), ["支付", "付失", "失败"]);
        assert_eq!(
            key_phrases("Payment failed, and the app said: payment FAILED 404"),
            ["payment", "failed", "app", "said"]
        );
        assert_eq!(
            key_phrases("订单123支付失败了 refund"),
            ["订单", "支付", "付失", "失败", "refund"]
        );
    }

    #[test]
    fn phrases_are_bounded() {
        let long: String = (0..500).map(|i| format!("word{i} ")).collect();
        assert_eq!(key_phrases(&long).len(), MAX_PHRASES);
    }
}

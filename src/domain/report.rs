//! The monthly report as one self-contained HTML page: key figures, then inline SVG charts
//! (intake by day and channel, first response and resolution time by day, SLA attainment,
//! CSAT by week) and the top issues with their improvements, in Chinese or English labels.
//! No scripts, no outside resources; every text a person typed is HTML-escaped. The caller
//! fills a [`MonthReport`] from the metrics; this module only draws it.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;

use super::insights::{Attainment, DurationFigures, Figures, Ratio, Span};
use super::language::Language;
use super::period::Period;

/// Everything the report shows about one month.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthReport {
    /// The month, e.g. "2026-11".
    pub month: String,
    /// The zone of its days.
    pub zone: Tz,
    /// Its first instant and the next month's first instant.
    pub period: Period,
    /// The month's figures.
    pub totals: Totals,
    /// Each day of the month, in order.
    pub days: Vec<Day>,
    /// Acknowledge, first response and resolution clocks over the month.
    pub sla: [Attainment; 3],
    /// Each week (or part of a week) of the month, in order.
    pub weeks: Vec<Week>,
    /// The top issues, most frequent first.
    pub issues: Vec<Issue>,
    /// Of the top issues, those whose improvement is DONE (整改率).
    pub improvement_rate: Ratio,
}

/// The month's figures, as the key figure cards show them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub intake: i64,
    pub completion: Ratio,
    pub reopen: Ratio,
    pub one_touch: Ratio,
    pub escalation: Ratio,
    pub repeat: Ratio,
    pub csat: Ratio,
    pub nps: Option<f64>,
    pub survey_response: Ratio,
    /// Created → first public staff reply.
    pub first_response: Times,
    /// Created → last resolve.
    pub resolution: Times,
}

impl Totals {
    /// The totals of a month's figures.
    pub fn of(figures: &Figures) -> Totals {
        Totals {
            intake: figures.intake,
            completion: figures.completion,
            reopen: figures.reopen,
            one_touch: figures.one_touch,
            escalation: figures.escalation,
            repeat: figures.repeat,
            csat: figures.csat,
            nps: figures.nps,
            survey_response: figures.survey_response,
            first_response: Times::of(&figures.durations[Span::FirstResponse as usize]),
            resolution: Times::of(&figures.durations[Span::FullResolution as usize]),
        }
    }
}

/// Percentiles of a set of durations in seconds, in calendar and in business time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub business_p50: Option<i64>,
    pub business_p90: Option<i64>,
}

impl Times {
    pub fn of(d: &DurationFigures) -> Times {
        Times {
            p50: d.p50,
            p90: d.p90,
            business_p50: d.business_p50,
            business_p90: d.business_p90,
        }
    }
}

/// One day of the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// Tickets created that day per channel ("HOTLINE", …); channels without any may be left
    /// out.
    pub intake: Vec<(String, i64)>,
    /// The median first response time of that day's tickets, in seconds.
    pub first_response_p50: Option<i64>,
    /// The median full resolution time of that day's tickets, in seconds.
    pub resolution_p50: Option<i64>,
}

/// One week of the month (the first and last may be cut by the month's edges).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Week {
    /// Its first day within the month.
    pub start: NaiveDate,
    /// Acknowledge, first response and resolution clocks that finished in it.
    pub sla: [Attainment; 3],
    pub csat: Ratio,
}

/// One top issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub key: String,
    pub category: String,
    pub product: String,
    /// The key phrase its tickets share; empty for the rest of its category and product.
    pub phrase: String,
    pub count: i64,
    /// count out of every ticket of the month, 0 to 1.
    pub share: f64,
    /// Against the month before: (count - previous) / previous; `None` when it had none.
    pub change: Option<f64>,
    pub repeat: Ratio,
    pub average_resolution_secs: Option<i64>,
    pub csat: Ratio,
    pub example_numbers: Vec<String>,
    pub improvement: Option<Improvement>,
}

/// The improvement (整改) linked to an issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Improvement {
    pub id: String,
    pub title: String,
    pub status: ImprovementStatus,
    pub owner_team: String,
    pub due: DateTime<Utc>,
    /// Once DONE: the issue's tickets in equal windows before and after.
    pub effect: Option<Effect>,
}

/// Where an improvement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImprovementStatus {
    Planned,
    InProgress,
    Done,
    Dropped,
}

/// An issue's tickets in equal windows before and after its improvement was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effect {
    pub tickets_before: i64,
    pub tickets_after: i64,
}

/// The report's title and its page.
pub fn render(report: &MonthReport, language: Language) -> (String, String) {
    let l = labels(language);
    let title = format!("{} {}", l.title, report.month);
    let mut page = Page {
        out: String::with_capacity(64 * 1024),
        l,
        language,
        report,
    };
    page.document(&title);
    (title, page.out)
}

/// Writes to a String, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Every label, in one language.
struct Labels {
    title: &'static str,
    lang: &'static str,
    period_to: &'static str,
    empty: &'static str,
    intake: &'static str,
    completion: &'static str,
    first_response: &'static str,
    resolution: &'static str,
    first_response_card: &'static str,
    resolution_card: &'static str,
    colon: &'static str,
    effect: &'static str,
    median: &'static str,
    business: &'static str,
    csat: &'static str,
    nps: &'static str,
    nps_none: &'static str,
    survey_response: &'static str,
    reopen: &'static str,
    one_touch: &'static str,
    escalation: &'static str,
    repeat: &'static str,
    improvement_rate: &'static str,
    of_issues: &'static str,
    intake_by_day: &'static str,
    times_by_day: &'static str,
    times_note: &'static str,
    in_hours: &'static str,
    in_minutes: &'static str,
    day_axis: &'static str,
    sla: &'static str,
    sla_month: &'static str,
    sla_weeks: &'static str,
    clocks: [&'static str; 3],
    met: &'static str,
    breached: &'static str,
    no_clocks: &'static str,
    csat_weeks: &'static str,
    csat_note: &'static str,
    ratings: &'static str,
    top_issues: &'static str,
    no_issues: &'static str,
    col_issue: &'static str,
    col_count: &'static str,
    col_share: &'static str,
    col_change: &'static str,
    col_repeat: &'static str,
    col_resolution: &'static str,
    col_csat: &'static str,
    col_examples: &'static str,
    col_improvement: &'static str,
    new_issue: &'static str,
    uncategorised: &'static str,
    other: &'static str,
    no_improvement: &'static str,
    statuses: [&'static str; 4],
    owner: &'static str,
    due: &'static str,
    tickets: &'static str,
    minutes: &'static str,
    hours_unit: &'static str,
    days: &'static str,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::Zh => Labels {
            title: "客户反馈月报",
            lang: "zh-CN",
            period_to: "至",
            empty: "本月没有工单",
            intake: "工单量",
            completion: "完成率",
            first_response: "首次响应时间",
            resolution: "解决时间",
            first_response_card: "首次响应（中位数）",
            resolution_card: "解决时间（中位数）",
            colon: "：",
            effect: "效果",
            median: "中位数",
            business: "工作时间",
            csat: "满意度（CSAT）",
            nps: "净推荐值（NPS）",
            nps_none: "无 NPS 回答",
            survey_response: "问卷回复率",
            reopen: "重开率",
            one_touch: "一次解决率",
            escalation: "投诉升级率",
            repeat: "重复反馈率",
            improvement_rate: "整改率",
            of_issues: "个高频问题已完成整改",
            intake_by_day: "每日工单量（按渠道）",
            times_by_day: "每日首次响应与解决时间",
            times_note: "当日创建工单的中位数；空缺表示当日无数据",
            in_hours: "（小时）",
            in_minutes: "（分钟）",
            day_axis: "日",
            sla: "SLA 达成率",
            sla_month: "本月",
            sla_weeks: "每周",
            clocks: ["确认", "首次响应", "解决"],
            met: "达成",
            breached: "超时",
            no_clocks: "无计时",
            csat_weeks: "每周满意度",
            csat_note: "4–5 分评价占全部评价的比例",
            ratings: "条评价",
            top_issues: "高频问题与整改",
            no_issues: "本月没有高频问题",
            col_issue: "问题",
            col_count: "工单",
            col_share: "占比",
            col_change: "环比",
            col_repeat: "重复率",
            col_resolution: "平均解决",
            col_csat: "满意度",
            col_examples: "示例工单",
            col_improvement: "整改",
            new_issue: "新出现",
            uncategorised: "未分类",
            other: "其他",
            no_improvement: "未立项",
            statuses: ["计划中", "进行中", "已完成", "已放弃"],
            owner: "负责",
            due: "截止",
            tickets: "工单",
            minutes: "分钟",
            hours_unit: "小时",
            days: "天",
        },
        Language::En => Labels {
            title: "Customer feedback report",
            lang: "en",
            period_to: "to",
            empty: "No tickets this month",
            intake: "Tickets",
            completion: "Completion rate",
            first_response: "First response time",
            resolution: "Resolution time",
            first_response_card: "First response (median)",
            resolution_card: "Resolution (median)",
            colon: ": ",
            effect: "effect",
            median: "median",
            business: "business hours",
            csat: "CSAT",
            nps: "NPS",
            nps_none: "no NPS answers",
            survey_response: "Survey response rate",
            reopen: "Reopen rate",
            one_touch: "One-touch resolution",
            escalation: "Complaint escalation rate",
            repeat: "Repeat rate",
            improvement_rate: "Improvement rate",
            of_issues: "top issues with a done improvement",
            intake_by_day: "Tickets per day by channel",
            times_by_day: "First response and resolution time per day",
            times_note: "median of the tickets created that day; gaps are days without data",
            in_hours: " (hours)",
            in_minutes: " (minutes)",
            day_axis: "day",
            sla: "SLA attainment",
            sla_month: "This month",
            sla_weeks: "Per week",
            clocks: ["Acknowledge", "First response", "Resolution"],
            met: "met",
            breached: "breached",
            no_clocks: "no clocks",
            csat_weeks: "CSAT per week",
            csat_note: "ratings of 4 or 5 out of all ratings",
            ratings: "ratings",
            top_issues: "Top issues and improvements",
            no_issues: "No top issues this month",
            col_issue: "Issue",
            col_count: "Tickets",
            col_share: "Share",
            col_change: "Change",
            col_repeat: "Repeat",
            col_resolution: "Avg resolution",
            col_csat: "CSAT",
            col_examples: "Examples",
            col_improvement: "Improvement",
            new_issue: "new",
            uncategorised: "uncategorised",
            other: "other",
            no_improvement: "none yet",
            statuses: ["Planned", "In progress", "Done", "Dropped"],
            owner: "owner",
            due: "due",
            tickets: "tickets",
            minutes: "min",
            hours_unit: "h",
            days: "d",
        },
    }
}

fn channel_zh(channel: &str) -> Option<&'static str> {
    Some(match channel {
        "HOTLINE" => "热线",
        "APP" => "App",
        "WEB_FORM" => "网页表单",
        "EMAIL" => "邮件",
        "SOCIAL_MEDIA" => "社交媒体",
        "WECHAT" => "微信",
        "IN_PERSON" => "线下",
        "API" => "系统接口",
        _ => return None,
    })
}

fn channel_en(channel: &str) -> Option<&'static str> {
    Some(match channel {
        "HOTLINE" => "Hotline",
        "APP" => "App",
        "WEB_FORM" => "Web form",
        "EMAIL" => "Email",
        "SOCIAL_MEDIA" => "Social media",
        "WECHAT" => "WeChat",
        "IN_PERSON" => "In person",
        "API" => "API",
        _ => return None,
    })
}

/// Channel colours: Tableau 10, distinct for the colour-blind in their first six and legible
/// on white and in print.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];
const CLOCK_COLOURS: [&str; 3] = ["#76b7b2", "#4e79a7", "#b07aa1"];
const MET: &str = "#59a14f";
const BREACHED: &str = "#e15759";
const FIRST_RESPONSE: &str = "#4e79a7";
const RESOLUTION: &str = "#f28e2b";
const CSAT: &str = "#59a14f";

/// Every chart is drawn in this many user units across and scales to the page's width.
const WIDTH: f64 = 960.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;

const STYLE: &str = r#"
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:#f4f5f7;color:#1f2328;font:14px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif}
.page{max-width:1140px;margin:0 auto;padding:28px 30px 40px}
header h1{margin:0;font-size:26px;font-weight:600}
header p{margin:4px 0 0;color:#57606a}
.empty{margin:18px 0;padding:14px 18px;background:#fff8e1;border:1px solid #f0d98c;border-radius:8px;font-size:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px;margin:20px 0}
.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 14px}
.card .label{color:#57606a;font-size:13px}
.card .value{font-size:24px;font-weight:600;margin:2px 0;font-variant-numeric:tabular-nums}
.card .sub{color:#57606a;font-size:12px}
section{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:16px 18px;margin:16px 0}
section h2{margin:0 0 4px;font-size:18px;font-weight:600}
section h3{margin:12px 0 4px;font-size:15px;font-weight:600}
.note{margin:0 0 8px;color:#57606a;font-size:12px}
svg{display:block;width:100%;height:auto}
svg text{font-family:inherit;fill:#3d444d}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0 0;padding:0;list-style:none;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
table{width:100%;border-collapse:collapse;font-size:13px}
th,td{padding:7px 8px;border-bottom:1px solid #e6e9ed;text-align:left;vertical-align:top}
th{color:#57606a;font-weight:600;background:#f6f8fa;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.issue{font-weight:600}
.phrase{color:#0b5cad}
.key,.examples{color:#6e7781;font-size:12px}.key{overflow-wrap:anywhere}
.nw{white-space:nowrap}
.bar{height:6px;background:#e6e9ed;border-radius:3px;margin-top:4px;min-width:60px}
.bar b{display:block;height:6px;background:#4e79a7;border-radius:3px}
.up{color:#c62828}.down{color:#2e7d32}.flat{color:#6e7781}
.status{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;white-space:nowrap}
.PLANNED{background:#eef1f4;color:#424a53}.IN_PROGRESS{background:#ddeeff;color:#0b5cad}
.DONE{background:#dcf3e1;color:#1a7f37}.DROPPED{background:#f4e4e4;color:#8a2b2b}
.imp-title{font-weight:600}
.muted{color:#8c959f}
.rate{margin:10px 0 0;font-size:14px}
@page{size:A4;margin:12mm}
@media print{body{background:#fff;font-size:11px}.page{max-width:none;padding:0}
section{padding:10px 12px;margin:10px 0}table{font-size:10.5px}th,td{padding:4px 5px}
section,.card{break-inside:avoid;border-color:#c9d1d9}tr{break-inside:avoid}
.cards{grid-template-columns:repeat(4,1fr);gap:8px}.card .value{font-size:18px}}
"#;

struct Page<'a> {
    out: String,
    l: Labels,
    language: Language,
    report: &'a MonthReport,
}

impl Page<'_> {
    fn document(&mut self, title: &str) {
        let r = self.report;
        let (first, last) = days_of(r);
        w!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<div class=\"page\">\n\
             <header><h1>{}</h1><p>{first} {} {last} · {}</p></header>\n",
            self.l.lang,
            esc(title),
            esc(title),
            self.l.period_to,
            esc(r.zone.name()),
        );
        if r.totals.intake == 0 {
            w!(self.out, "<p class=\"empty\">{}</p>\n", self.l.empty);
        }
        self.cards();
        self.intake_chart();
        self.times_chart();
        self.sla_charts();
        self.csat_chart();
        self.issues();
        self.out.push_str("</div>\n</body>\n</html>\n");
    }

    fn cards(&mut self) {
        let t = &self.report.totals;
        let l = &self.l;
        let lang = self.language;
        let mut cards: Vec<(&str, String, Vec<String>)> =
            vec![(l.intake, thousands(t.intake), Vec::new())];
        let ratio_card = |label: &'static str, r: Ratio| {
            let subs =
                (r.whole > 0).then(|| format!("{} / {}", thousands(r.part), thousands(r.whole)));
            (label, percent(r), subs.into_iter().collect())
        };
        cards.push(ratio_card(l.completion, t.completion));
        for (label, times) in [
            (l.first_response_card, t.first_response),
            (l.resolution_card, t.resolution),
        ] {
            let time = |secs: Option<i64>| secs.map_or_else(dash, |s| duration(s, lang));
            let mut subs = Vec::new();
            if times.p90.is_some() {
                subs.push(format!("P90 {}", time(times.p90)));
            }
            if times.business_p50.is_some() || times.business_p90.is_some() {
                subs.push(format!(
                    "{} {} · P90 {}",
                    l.business,
                    time(times.business_p50),
                    time(times.business_p90)
                ));
            }
            cards.push((label, time(times.p50), subs));
        }
        cards.push(ratio_card(l.csat, t.csat));
        cards.push((
            l.nps,
            t.nps
                .filter(|n| n.is_finite())
                .map_or_else(dash, |n| decimal(n, 0)),
            if t.nps.is_none() {
                vec![l.nps_none.to_owned()]
            } else {
                Vec::new()
            },
        ));
        cards.push(ratio_card(l.survey_response, t.survey_response));
        cards.push(ratio_card(l.one_touch, t.one_touch));
        cards.push(ratio_card(l.reopen, t.reopen));
        cards.push(ratio_card(l.repeat, t.repeat));
        cards.push(ratio_card(l.escalation, t.escalation));
        cards.push(ratio_card(l.improvement_rate, self.report.improvement_rate));
        self.out.push_str("<div class=\"cards\">\n");
        for (label, value, subs) in cards {
            w!(
                self.out,
                "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div>"
            );
            for sub in subs {
                w!(self.out, "<div class=\"sub\">{sub}</div>");
            }
            self.out.push_str("</div>\n");
        }
        self.out.push_str("</div>\n");
    }

    /// Stacked columns of each day's tickets by channel, channels biggest first from the
    /// bottom, the day's total above, and a legend with each channel's month total.
    fn intake_chart(&mut self) {
        let days = &self.report.days;
        let mut channels: Vec<(String, i64)> = Vec::new();
        for day in days {
            for (channel, n) in &day.intake {
                match channels.iter_mut().find(|(c, _)| c == channel) {
                    Some((_, total)) => *total += (*n).max(0),
                    None => channels.push((channel.clone(), (*n).max(0))),
                }
            }
        }
        channels.retain(|(_, n)| *n > 0);
        if channels.is_empty() {
            return;
        }
        channels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        // Each channel its own colour while the palette lasts; past it, the smallest share
        // the last colour as "other".
        let named = if channels.len() > PALETTE.len() {
            PALETTE.len() - 1
        } else {
            channels.len()
        };
        let group = |channel: &str| {
            channels
                .iter()
                .position(|(c, _)| c == channel)
                .unwrap_or(named)
                .min(named)
        };
        let mut groups: Vec<(Option<&str>, i64)> = channels[..named]
            .iter()
            .map(|(c, n)| (Some(c.as_str()), *n))
            .collect();
        if named < channels.len() {
            groups.push((None, channels[named..].iter().map(|(_, n)| n).sum()));
        }
        let names: Vec<String> = groups
            .iter()
            .map(|(g, _)| g.map_or_else(|| self.l.other.to_owned(), |c| self.channel(c)))
            .collect();
        let totals: Vec<i64> = days
            .iter()
            .map(|d| d.intake.iter().map(|(_, n)| (*n).max(0)).sum())
            .collect();
        let max = totals.iter().copied().max().unwrap_or(0) as f64;
        let axis = Axis::new(max, 5, true);
        let frame = Frame::new(300.0, 24.0, 42.0, days.len());
        let mut svg = String::new();
        frame.grid(&mut svg, &axis, |v| thousands(v as i64));
        for (i, day) in days.iter().enumerate() {
            let x = frame.slot_x(i) + frame.slot() * 0.15;
            let width = frame.slot() * 0.7;
            let mut y = frame.bottom();
            let mut by_group = vec![0; groups.len()];
            for (channel, n) in &day.intake {
                by_group[group(channel)] += (*n).max(0);
            }
            for (g, n) in by_group.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                let height = axis.scale(n as f64, frame.height());
                y -= height;
                let channel = groups[g].0.map_or_else(String::new, esc);
                w!(
                    svg,
                    "<rect data-day=\"{}\" data-channel=\"{channel}\" x=\"{x:.1}\" y=\"{y:.2}\" width=\"{width:.1}\" height=\"{height:.2}\" fill=\"{}\"><title>{} {}: {}</title></rect>",
                    day.date,
                    PALETTE[g],
                    day.date,
                    esc(&names[g]),
                    thousands(n),
                );
            }
            // The day's total above its stack, shortened ("2.3k") when the slot is narrow.
            let total = [thousands(totals[i]), compact(totals[i])]
                .into_iter()
                .find(|t| text_width(t, 11.0) <= frame.slot() - 2.0);
            if let Some(total) = total.filter(|_| totals[i] > 0) {
                w!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{total}</text>",
                    frame.center(i),
                    y - 4.0,
                );
            }
        }
        self.day_labels(&mut svg, &frame);
        self.out.push_str("<section>\n");
        w!(self.out, "<h2>{}</h2>\n", self.l.intake_by_day);
        self.svg(&frame, self.l.intake_by_day, &svg);
        self.out.push_str("<ul class=\"legend\">");
        for (g, (_, total)) in groups.iter().enumerate() {
            w!(
                self.out,
                "<li><i style=\"background:{}\"></i>{} <span class=\"muted\">{}</span></li>",
                PALETTE[g],
                esc(&names[g]),
                thousands(*total),
            );
        }
        self.out.push_str("</ul>\n</section>\n");
    }

    /// Two panels over the same days, each with its own axis in hours: first response
    /// above, full resolution below (they differ by an order of magnitude, one axis would
    /// flatten the first). Days without a value leave a gap in the line.
    fn times_chart(&mut self) {
        let days = &self.report.days;
        let series: [(&str, &str, Vec<Option<i64>>); 2] = [
            (
                self.l.first_response,
                FIRST_RESPONSE,
                days.iter().map(|d| d.first_response_p50).collect(),
            ),
            (
                self.l.resolution,
                RESOLUTION,
                days.iter().map(|d| d.resolution_p50).collect(),
            ),
        ];
        if series.iter().all(|(_, _, v)| v.iter().all(Option::is_none)) {
            return;
        }
        // Each panel's plot is PANEL high, its title above it; the days are labelled once,
        // under the lower one.
        const PANEL: f64 = 150.0;
        const GAP: f64 = 52.0;
        let total = 28.0 + 2.0 * PANEL + GAP + 42.0;
        let panel = |p: usize| {
            let top = 28.0 + p as f64 * (PANEL + GAP);
            Frame::new(total, top, total - top - PANEL, days.len())
        };
        let frame = panel(1);
        let mut svg = String::new();
        for (p, (label, colour, secs)) in series.iter().enumerate() {
            let sub = panel(p);
            let top = sub.top;
            // Hours; minutes when every value is under an hour, where hours read "0.05".
            let longest = secs.iter().flatten().copied().max().unwrap_or(0);
            let (unit, in_unit) = if longest < 3600 {
                (60.0, self.l.in_minutes)
            } else {
                (3600.0, self.l.in_hours)
            };
            let values: Vec<Option<f64>> =
                secs.iter().map(|s| s.map(|s| s as f64 / unit)).collect();
            let max = values.iter().flatten().copied().fold(0.0, f64::max);
            let axis = Axis::new(max, 4, false);
            w!(
                svg,
                "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"14\" font-weight=\"600\" fill=\"{colour}\">{label} · {}{}</text>",
                top - 12.0,
                self.l.median,
                in_unit,
            );
            sub.grid(&mut svg, &axis, |v| decimal(v, axis.decimals()));
            let point =
                |i: usize, v: f64| (sub.center(i), sub.bottom() - axis.scale(v, sub.height()));
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
            for (i, v) in values.iter().enumerate() {
                match v {
                    Some(v) => run.push(point(i, *v)),
                    None => runs.extend((!run.is_empty()).then(|| std::mem::take(&mut run))),
                }
            }
            runs.extend((!run.is_empty()).then_some(run));
            for run in runs.iter().filter(|r| r.len() > 1) {
                let points: Vec<String> =
                    run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                w!(
                    svg,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\" stroke-linejoin=\"round\" points=\"{}\"/>",
                    points.join(" ")
                );
            }
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    let (x, y) = point(i, *v);
                    w!(
                        svg,
                        "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"#fff\" stroke=\"{colour}\" stroke-width=\"2\"><title>{} {label}: {}</title></circle>",
                        days[i].date,
                        secs[i].map_or_else(dash, |s| duration(s, self.language)),
                    );
                }
            }
        }
        self.day_labels(&mut svg, &frame);
        self.chart_section(self.l.times_by_day, self.l.times_note, &frame, &svg);
    }

    /// The month's attainment per clock as 100 % bars of met and breached, then each week's
    /// attainment per clock as grouped columns.
    fn sla_charts(&mut self) {
        let r = self.report;
        let any_week = r
            .weeks
            .iter()
            .any(|w| w.sla.iter().any(|a| a.met + a.breached > 0));
        if !any_week && r.sla.iter().all(|a| a.met + a.breached == 0) {
            return;
        }
        self.out.push_str("<section>\n");
        w!(
            self.out,
            "<h2>{}</h2>\n<h3>{}</h3>\n",
            self.l.sla,
            self.l.sla_month
        );
        let row = 34.0;
        let label_w = 130.0;
        let bar_w = 460.0;
        let total = 3.0 * row + 8.0;
        let mut svg = String::new();
        for (i, a) in r.sla.iter().enumerate() {
            let y = 4.0 + i as f64 * row;
            let whole = a.met + a.breached;
            w!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"14\">{}</text>",
                label_w - 12.0,
                y + 18.0,
                self.l.clocks[i],
            );
            w!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{bar_w}\" height=\"24\" rx=\"3\" fill=\"#eef1f4\"/>"
            );
            let text = if whole > 0 {
                let met_w = bar_w * a.met as f64 / whole as f64;
                w!(
                    svg,
                    "<rect x=\"{label_w}\" y=\"{y:.1}\" width=\"{met_w:.1}\" height=\"24\" fill=\"{MET}\"><title>{}: {}</title></rect>\
                     <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"24\" fill=\"{BREACHED}\"><title>{}: {}</title></rect>",
                    self.l.met,
                    thousands(a.met),
                    label_w + met_w,
                    bar_w - met_w,
                    self.l.breached,
                    thousands(a.breached),
                );
                format!(
                    "<tspan font-weight=\"600\">{}</tspan>  {} {} · {} {}",
                    percent(Ratio { part: a.met, whole }),
                    self.l.met,
                    thousands(a.met),
                    self.l.breached,
                    thousands(a.breached),
                )
            } else {
                format!("<tspan class=\"muted\">{}</tspan>", self.l.no_clocks)
            };
            w!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"14\">{text}</text>",
                label_w + bar_w + 14.0,
                y + 17.0,
            );
        }
        w!(
            self.out,
            "<svg viewBox=\"0 0 {WIDTH} {total}\" role=\"img\" aria-label=\"{} {}\" xmlns=\"http://www.w3.org/2000/svg\">{svg}</svg>\n",
            self.l.sla,
            self.l.sla_month,
        );
        self.out.push_str("<ul class=\"legend\">");
        for (label, colour) in [(self.l.met, MET), (self.l.breached, BREACHED)] {
            w!(
                self.out,
                "<li><i style=\"background:{colour}\"></i>{label}</li>"
            );
        }
        self.out.push_str("</ul>\n");
        if any_week {
            w!(self.out, "<h3>{}</h3>\n", self.l.sla_weeks);
            let frame = Frame::new(260.0, 24.0, 40.0, r.weeks.len());
            let axis = Axis::percent();
            let mut svg = String::new();
            frame.grid(&mut svg, &axis, |v| format!("{v:.0}%"));
            for (i, week) in r.weeks.iter().enumerate() {
                let group = frame.slot() * 0.8;
                let bar = group / 3.0;
                for (c, a) in week.sla.iter().enumerate() {
                    let whole = a.met + a.breached;
                    let x = frame.slot_x(i) + frame.slot() * 0.1 + c as f64 * bar;
                    if whole == 0 {
                        // No clock finished: a dash, not a bar that reads as 0 %.
                        w!(
                            svg,
                            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#8c959f\">—<title>{} {}: {}</title></text>",
                            x + bar / 2.0,
                            frame.bottom() - 5.0,
                            self.week_label(week),
                            self.l.clocks[c],
                            self.l.no_clocks,
                        );
                        continue;
                    }
                    let value = 100.0 * a.met as f64 / whole as f64;
                    let height = axis.scale(value, frame.height());
                    let y = frame.bottom() - height;
                    w!(
                        svg,
                        "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\"><title>{} {}: {} {} · {} {}</title></rect>",
                        x + 1.0,
                        bar - 2.0,
                        CLOCK_COLOURS[c],
                        self.week_label(week),
                        self.l.clocks[c],
                        self.l.met,
                        thousands(a.met),
                        self.l.breached,
                        thousands(a.breached),
                    );
                    let label = percent(Ratio { part: a.met, whole });
                    if text_width(&label, 12.0) <= bar {
                        w!(
                            svg,
                            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
                            x + bar / 2.0,
                            y - 4.0,
                            label,
                        );
                    }
                }
            }
            self.week_labels(&mut svg, &frame);
            self.svg(&frame, self.l.sla_weeks, &svg);
            self.out.push_str("<ul class=\"legend\">");
            for (c, label) in self.l.clocks.iter().enumerate() {
                w!(
                    self.out,
                    "<li><i style=\"background:{}\"></i>{label}</li>",
                    CLOCK_COLOURS[c]
                );
            }
            self.out.push_str("</ul>\n");
        }
        self.out.push_str("</section>\n");
    }

    fn csat_chart(&mut self) {
        let r = self.report;
        if r.weeks.iter().all(|w| w.csat.whole == 0) {
            return;
        }
        let frame = Frame::new(240.0, 24.0, 40.0, r.weeks.len());
        let axis = Axis::percent();
        let mut svg = String::new();
        frame.grid(&mut svg, &axis, |v| format!("{v:.0}%"));
        for (i, week) in r.weeks.iter().enumerate() {
            let Some(value) = week.csat.value() else {
                continue;
            };
            let height = axis.scale(100.0 * value, frame.height());
            let width = (frame.slot() * 0.5).min(120.0);
            let x = frame.center(i) - width / 2.0;
            let y = frame.bottom() - height;
            w!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{height:.1}\" fill=\"{CSAT}\"><title>{}: {} / {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\"><tspan font-weight=\"600\">{}</tspan> <tspan fill=\"#6e7781\">{}</tspan></text>",
                self.week_label(week),
                thousands(week.csat.part),
                thousands(week.csat.whole),
                frame.center(i),
                y - 5.0,
                percent(week.csat),
                parens(
                    &format!("{} {}", thousands(week.csat.whole), self.l.ratings),
                    self.language
                ),
            );
        }
        self.week_labels(&mut svg, &frame);
        self.chart_section(self.l.csat_weeks, self.l.csat_note, &frame, &svg);
    }

    fn issues(&mut self) {
        let r = self.report;
        let l = &self.l;
        let lang = self.language;
        let mut out = String::new();
        out.push_str("<section>\n");
        w!(out, "<h2>{}</h2>\n", l.top_issues);
        if r.issues.is_empty() {
            if r.totals.intake == 0 {
                // The banner says it already.
                return;
            }
            w!(out, "<p class=\"muted\">{}</p>\n</section>\n", l.no_issues);
            self.out.push_str(&out);
            return;
        }
        w!(
            out,
            "<table>\n<thead><tr><th class=\"n\">#</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th>{}</th></tr></thead>\n<tbody>\n",
            l.col_issue,
            l.col_count,
            l.col_share,
            l.col_change,
            l.col_repeat,
            l.col_resolution,
            l.col_csat,
            l.col_improvement,
        );
        // Share bars are drawn against the largest share, so they can be told apart.
        let widest = r
            .issues
            .iter()
            .map(|i| i.share)
            .filter(|s| s.is_finite())
            .fold(0.0, f64::max);
        for (i, issue) in r.issues.iter().enumerate() {
            let mut name = Vec::new();
            name.push(if issue.category.is_empty() {
                l.uncategorised.to_owned()
            } else {
                esc(&issue.category)
            });
            if !issue.product.is_empty() {
                name.push(esc(&issue.product));
            }
            let phrase = if issue.phrase.is_empty() {
                format!("<span class=\"muted\">({})</span>", l.other)
            } else {
                format!("<span class=\"phrase\">“{}”</span>", esc(&issue.phrase))
            };
            let share = if issue.share.is_finite() {
                issue.share.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let change = match issue.change.filter(|c| c.is_finite()) {
                None => format!("<span class=\"flat\">{}</span>", l.new_issue),
                Some(c) if c > 0.0 => format!("<span class=\"up\">↑ {}</span>", pct(c)),
                Some(c) if c < 0.0 => format!("<span class=\"down\">↓ {}</span>", pct(-c)),
                Some(_) => "<span class=\"flat\">0%</span>".to_owned(),
            };
            let examples = if issue.example_numbers.is_empty() {
                String::new()
            } else {
                format!(
                    "<div class=\"examples\">{}{}{}</div>",
                    l.col_examples,
                    l.colon,
                    issue
                        .example_numbers
                        .iter()
                        .map(|n| esc(n))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            w!(
                out,
                "<tr><td class=\"n\">{}</td><td><div class=\"issue\">{} · {phrase}</div>{examples}<div class=\"key\">{}</div></td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}<div class=\"bar\"><b style=\"width:{:.1}%\"></b></div></td><td class=\"n\">{change}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                i + 1,
                name.join(" · "),
                esc(&issue.key),
                thousands(issue.count),
                pct(share),
                if widest > 0.0 {
                    100.0 * share / widest
                } else {
                    0.0
                },
                percent(issue.repeat),
                issue
                    .average_resolution_secs
                    .map_or_else(dash, |s| duration(s, lang)),
                percent(issue.csat),
                self.improvement(issue.improvement.as_ref()),
            );
        }
        out.push_str("</tbody>\n</table>\n");
        w!(
            out,
            "<p class=\"rate\">{}{}<b>{}</b> {}</p>\n</section>\n",
            l.improvement_rate,
            l.colon,
            percent(r.improvement_rate),
            parens(
                &format!(
                    "{} / {} {}",
                    thousands(r.improvement_rate.part),
                    thousands(r.improvement_rate.whole),
                    l.of_issues
                ),
                lang
            ),
        );
        self.out.push_str(&out);
    }

    fn improvement(&self, improvement: Option<&Improvement>) -> String {
        let l = &self.l;
        let Some(imp) = improvement else {
            return format!("<span class=\"muted\">{}</span>", l.no_improvement);
        };
        let (class, status) = match imp.status {
            ImprovementStatus::Planned => ("PLANNED", l.statuses[0]),
            ImprovementStatus::InProgress => ("IN_PROGRESS", l.statuses[1]),
            ImprovementStatus::Done => ("DONE", l.statuses[2]),
            ImprovementStatus::Dropped => ("DROPPED", l.statuses[3]),
        };
        let due = imp.due.with_timezone(&self.report.zone).date_naive();
        let mut html = format!(
            "<div><span class=\"status {class}\">{status}</span> <span class=\"imp-title\">{}</span></div>\
             <div class=\"muted\"><span class=\"nw\">{}</span> · <span class=\"nw\">{}{}{}</span> · <span class=\"nw\">{}{}{due}</span></div>",
            esc(&imp.title),
            esc(&imp.id),
            l.owner,
            l.colon,
            esc(&imp.owner_team),
            l.due,
            l.colon,
        );
        if let Some(effect) = imp.effect {
            let change = (effect.tickets_before > 0).then(|| {
                (effect.tickets_after - effect.tickets_before) as f64 / effect.tickets_before as f64
            });
            let change = match change {
                Some(c) if c < 0.0 => format!(" <span class=\"down\">↓ {}</span>", pct(-c)),
                Some(c) if c > 0.0 => format!(" <span class=\"up\">↑ {}</span>", pct(c)),
                _ => String::new(),
            };
            w!(
                html,
                "<div>{}{}{} {} → {}{change}</div>",
                l.effect,
                l.colon,
                l.tickets,
                thousands(effect.tickets_before),
                thousands(effect.tickets_after),
            );
        }
        html
    }

    /// A section of one chart: its title, a note on how to read it, and the chart.
    fn chart_section(&mut self, title: &str, note: &str, frame: &Frame, svg: &str) {
        self.out.push_str("<section>\n");
        w!(self.out, "<h2>{title}</h2>\n<p class=\"note\">{note}</p>\n");
        self.svg(frame, title, svg);
        self.out.push_str("</section>\n");
    }

    fn svg(&mut self, frame: &Frame, label: &str, body: &str) {
        w!(
            self.out,
            "<svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-label=\"{label}\" xmlns=\"http://www.w3.org/2000/svg\">{body}</svg>\n",
            frame.total,
        );
    }

    /// Each day's number under its slot (every second one when they are narrow), weekends
    /// in bold.
    fn day_labels(&self, svg: &mut String, frame: &Frame) {
        let every = if frame.slot() >= 20.0 { 1 } else { 2 };
        for (i, day) in self.report.days.iter().enumerate() {
            if i % every != 0 {
                continue;
            }
            let weekend = matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun);
            w!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\"{}>{}</text>",
                frame.center(i),
                frame.bottom() + 16.0,
                if weekend {
                    " font-weight=\"700\" fill=\"#8a2b2b\""
                } else {
                    ""
                },
                day.date.day(),
            );
        }
        let (first, _) = days_of(self.report);
        let axis = match self.language {
            Language::Zh => format!(
                "{}年{}月（{}）",
                first.year(),
                first.month(),
                self.l.day_axis
            ),
            Language::En => format!("{} ({})", first.format("%B %Y"), self.l.day_axis),
        };
        w!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" fill=\"#6e7781\">{axis}</text>",
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            frame.bottom() + 34.0,
        );
    }

    fn week_labels(&self, svg: &mut String, frame: &Frame) {
        for (i, week) in self.report.weeks.iter().enumerate() {
            w!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\">{}</text>",
                frame.center(i),
                frame.bottom() + 18.0,
                self.week_label(week),
            );
        }
    }

    /// "11/02–11/08": up to the day before the next week, or at most 7 days up to the month's
    /// last day.
    fn week_label(&self, week: &Week) -> String {
        let (_, last) = days_of(self.report);
        let next = self
            .report
            .weeks
            .iter()
            .map(|w| w.start)
            .filter(|s| *s > week.start)
            .min();
        let end = match next {
            Some(next) => next - Duration::days(1),
            None => (week.start + Duration::days(6)).min(last),
        }
        .max(week.start);
        if end == week.start {
            week.start.format("%m/%d").to_string()
        } else {
            format!("{}–{}", week.start.format("%m/%d"), end.format("%m/%d"))
        }
    }

    fn channel(&self, channel: &str) -> String {
        let known = match self.language {
            Language::Zh => channel_zh(channel),
            Language::En => channel_en(channel),
        };
        known.map_or_else(|| channel.to_owned(), str::to_owned)
    }
}

/// The month's first and last local days.
fn days_of(r: &MonthReport) -> (NaiveDate, NaiveDate) {
    let first = r.period.start.with_timezone(&r.zone).date_naive();
    let last = (r.period.end - Duration::seconds(1))
        .with_timezone(&r.zone)
        .date_naive()
        .max(first);
    (first, last)
}

/// The plot area of a chart of `slots` columns: `total` user units high, the plot `top`
/// below the top edge and `bottom_gap` above the bottom edge (for labels).
#[derive(Debug, Clone, Copy)]
struct Frame {
    total: f64,
    top: f64,
    bottom_gap: f64,
    slots: usize,
}

impl Frame {
    fn new(total: f64, top: f64, bottom_gap: f64, slots: usize) -> Frame {
        Frame {
            total,
            top,
            bottom_gap,
            slots: slots.max(1),
        }
    }

    fn bottom(&self) -> f64 {
        self.total - self.bottom_gap
    }

    fn height(&self) -> f64 {
        self.bottom() - self.top
    }

    fn slot(&self) -> f64 {
        (WIDTH - LEFT - RIGHT) / self.slots as f64
    }

    fn slot_x(&self, i: usize) -> f64 {
        LEFT + i as f64 * self.slot()
    }

    fn center(&self, i: usize) -> f64 {
        self.slot_x(i) + self.slot() / 2.0
    }

    /// Horizontal grid lines at the axis's ticks with their labels, and the base line.
    fn grid(&self, svg: &mut String, axis: &Axis, label: impl Fn(f64) -> String) {
        for tick in axis.ticks() {
            let y = self.bottom() - axis.scale(tick, self.height());
            w!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"1\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\" fill=\"#6e7781\">{}</text>",
                WIDTH - RIGHT,
                if tick == 0.0 { "#8c959f" } else { "#e6e9ed" },
                LEFT - 8.0,
                y + 4.0,
                label(tick),
            );
        }
    }
}

/// A value axis from 0 to a round top in round steps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    top: f64,
    step: f64,
}

impl Axis {
    /// About `ticks` steps of 1, 2 or 5 times a power of ten covering 0 to `max`; whole
    /// steps when `whole`.
    fn new(max: f64, ticks: u32, whole: bool) -> Axis {
        let max = if max.is_finite() && max > 0.0 {
            max
        } else {
            1.0
        };
        let raw = max / f64::from(ticks.max(1));
        let exponent = raw.log10().floor() as i32;
        // A power of ten below 1 divides, which is exact where multiplying by 0.1 is not.
        let times_ten = |n: f64| {
            if exponent >= 0 {
                n * 10f64.powi(exponent)
            } else {
                n / 10f64.powi(-exponent)
            }
        };
        let multiple = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|m| times_ten(*m) >= raw * (1.0 - 1e-9))
            .unwrap_or(10.0);
        let step = times_ten(multiple);
        let step = if whole { step.max(1.0).round() } else { step };
        let steps = (max / step - 1e-9).ceil().max(1.0);
        let top = if whole || exponent >= 0 {
            steps * step
        } else {
            times_ten(steps * multiple)
        };
        Axis { top, step }
    }

    fn percent() -> Axis {
        Axis {
            top: 100.0,
            step: 25.0,
        }
    }

    fn ticks(&self) -> Vec<f64> {
        let n = (self.top / self.step).round() as usize;
        (0..=n).map(|i| i as f64 * self.step).collect()
    }

    /// How many decimals the ticks need.
    fn decimals(&self) -> usize {
        let mut decimals = 0;
        while decimals < 4 && (self.step * 10f64.powi(decimals as i32)).fract().abs() > 1e-6 {
            decimals += 1;
        }
        decimals
    }

    /// `value` as a length along an axis `length` long.
    fn scale(&self, value: f64, length: f64) -> f64 {
        if value.is_finite() {
            value.clamp(0.0, self.top) / self.top * length
        } else {
            0.0
        }
    }
}

/// About how wide `text` is at `size`: digits and Latin letters about 0.6 of it, Chinese
/// characters the whole of it.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
        .sum::<f64>()
        * size
}

/// `text` in brackets, full width in Chinese.
fn parens(text: &str, language: Language) -> String {
    match language {
        Language::Zh => format!("（{text}）"),
        Language::En => format!("({text})"),
    }
}

fn dash() -> String {
    "—".to_owned()
}

/// A ratio as a percentage to one decimal ("87.5%", "100%"), "—" when its whole is 0.
fn percent(r: Ratio) -> String {
    r.value().map_or_else(dash, pct)
}

/// A fraction as a percentage to one decimal, without a trailing ".0".
fn pct(fraction: f64) -> String {
    format!("{}%", decimal(100.0 * fraction, 1))
}

/// `value` to at most `decimals` places, without trailing zeros.
fn decimal(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    if text == "-0" { "0".to_owned() } else { text }
}

/// A count with thousands separators: "12,345".
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count in at most four characters where it can: "980", "2.3k", "12k", "1.5M".
fn compact(n: i64) -> String {
    let v = n as f64;
    match n.unsigned_abs() {
        0..1_000 => n.to_string(),
        1_000..10_000 => format!("{}k", decimal(v / 1e3, 1)),
        10_000..1_000_000 => format!("{}k", (v / 1e3).round()),
        _ => format!("{}M", decimal(v / 1e6, 1)),
    }
}

/// A duration in the unit that reads best: minutes under an hour, hours under two days,
/// then days, to one decimal: "45 分钟", "3.5 h", "2.1 d".
fn duration(secs: i64, language: Language) -> String {
    let l = labels(language);
    let secs = secs.max(0) as f64;
    let (value, unit) = if secs < 3600.0 {
        ((secs / 60.0).round(), l.minutes)
    } else if secs < 48.0 * 3600.0 {
        (secs / 3600.0, l.hours_unit)
    } else {
        (secs / 86_400.0, l.days)
    };
    format!("{} {unit}", decimal(value, 1))
}

/// `text` safe inside HTML elements and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn zone() -> Tz {
        chrono_tz::Asia::Shanghai
    }

    fn november() -> Period {
        Period::month("2026-11", zone()).expect("a month")
    }

    fn ratio(part: i64, whole: i64) -> Ratio {
        Ratio { part, whole }
    }

    fn empty() -> MonthReport {
        MonthReport {
            month: "2026-11".to_owned(),
            zone: zone(),
            period: november(),
            totals: Totals::default(),
            days: (1..=30)
                .map(|d| Day {
                    date: NaiveDate::from_ymd_opt(2026, 11, d).expect("a day"),
                    intake: Vec::new(),
                    first_response_p50: None,
                    resolution_p50: None,
                })
                .collect(),
            sla: [Attainment::default(); 3],
            weeks: weeks(|_| ([Attainment::default(); 3], Ratio::default())),
            issues: Vec::new(),
            improvement_rate: Ratio::default(),
        }
    }

    /// The weeks of November 2026 from Monday, the first cut at the 1st (a Sunday).
    fn weeks(of: impl Fn(usize) -> ([Attainment; 3], Ratio)) -> Vec<Week> {
        [1, 2, 9, 16, 23, 30]
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let (sla, csat) = of(i);
                Week {
                    start: NaiveDate::from_ymd_opt(2026, 11, d).expect("a day"),
                    sla,
                    csat,
                }
            })
            .collect()
    }

    const CHANNELS: [&str; 6] = [
        "HOTLINE",
        "APP",
        "WECHAT",
        "WEB_FORM",
        "EMAIL",
        "SOCIAL_MEDIA",
    ];

    /// A realistic month: 30 days, 6 channels, weekly rhythm, a few days without timings,
    /// Chinese and English issues, one DONE improvement.
    fn sample() -> MonthReport {
        let mut report = empty();
        let mut intake = 0;
        for (i, day) in report.days.iter_mut().enumerate() {
            let weekend = matches!(day.date.weekday(), Weekday::Sat | Weekday::Sun);
            let base = if weekend { 28 } else { 64 } + (i as i64 * 7) % 13;
            day.intake = CHANNELS
                .iter()
                .enumerate()
                .map(|(c, name)| {
                    let n = base * [34, 22, 18, 12, 9, 5][c] / 100 + (i as i64 + c as i64) % 3;
                    (name.to_string(), n)
                })
                .collect();
            intake += day.intake.iter().map(|(_, n)| n).sum::<i64>();
            day.first_response_p50 = (i != 12)
                .then_some(1800 + ((i as i64 * 977) % 5400) + if weekend { 3600 } else { 0 });
            day.resolution_p50 = (i < 26 && i != 12 && i != 13)
                .then_some(20 * 3600 + (i as i64 * 5431) % (30 * 3600));
        }
        let a = |met, breached| Attainment { met, breached };
        report.totals = Totals {
            intake,
            completion: ratio(intake * 88 / 100, intake),
            reopen: ratio(61, 1530),
            one_touch: ratio(1012, 1530),
            escalation: ratio(14, 402),
            repeat: ratio(131, intake),
            csat: ratio(642, 771),
            nps: Some(31.6),
            survey_response: ratio(771, 1530),
            first_response: Times {
                p50: Some(2940),
                p90: Some(4 * 3600 + 1200),
                business_p50: Some(2100),
                business_p90: Some(3 * 3600),
            },
            resolution: Times {
                p50: Some(27 * 3600),
                p90: Some(3 * 86_400 + 7200),
                business_p50: Some(9 * 3600),
                business_p90: Some(30 * 3600),
            },
        };
        report.sla = [a(1588, 41), a(1502, 127), a(1311, 219)];
        report.weeks = weeks(|i| {
            let k = i as i64;
            (
                [
                    a(40 + k * 60 % 300, 1 + k),
                    a(38 + k * 55 % 280, 4 + 2 * k),
                    a(30 + k * 50 % 250, 9 + 3 * k),
                ],
                ratio(20 + k * 29 % 150, 24 + k * 33 % 170),
            )
        });
        report.weeks[5].sla[2] = Attainment::default();
        let due = Utc
            .with_ymd_and_hms(2026, 12, 15, 10, 0, 0)
            .single()
            .expect("a time");
        report.issues = vec![
            Issue {
                key: "支付/会员App/支付".to_owned(),
                category: "支付".to_owned(),
                product: "会员App".to_owned(),
                phrase: "支付失败".to_owned(),
                count: 214,
                share: 214.0 / intake as f64,
                change: Some(0.32),
                repeat: ratio(41, 214),
                average_resolution_secs: Some(31 * 3600),
                csat: ratio(61, 102),
                example_numbers: vec!["FB202611280017".to_owned(), "FB202611270004".to_owned()],
                improvement: Some(Improvement {
                    id: "IMP-3".to_owned(),
                    title: "支付重试与超时提示优化".to_owned(),
                    status: ImprovementStatus::InProgress,
                    owner_team: "payments".to_owned(),
                    due,
                    effect: None,
                }),
            },
            Issue {
                key: "billing/Web shop/payment".to_owned(),
                category: "billing".to_owned(),
                product: "Web shop".to_owned(),
                phrase: "payment failed".to_owned(),
                count: 133,
                share: 133.0 / intake as f64,
                change: Some(-0.41),
                repeat: ratio(12, 133),
                average_resolution_secs: Some(18 * 3600),
                csat: ratio(70, 81),
                example_numbers: vec!["FB202611290002".to_owned()],
                improvement: Some(Improvement {
                    id: "IMP-1".to_owned(),
                    title: "Fix the payment retry".to_owned(),
                    status: ImprovementStatus::Done,
                    owner_team: "web-checkout".to_owned(),
                    due,
                    effect: Some(Effect {
                        tickets_before: 226,
                        tickets_after: 133,
                    }),
                }),
            },
            Issue {
                key: "物流/配送/".to_owned(),
                category: "物流".to_owned(),
                product: "配送".to_owned(),
                phrase: "快递延迟".to_owned(),
                count: 97,
                share: 97.0 / intake as f64,
                change: None,
                repeat: ratio(5, 97),
                average_resolution_secs: Some(2 * 86_400 + 3 * 3600),
                csat: ratio(20, 44),
                example_numbers: vec![
                    "FB202611300011".to_owned(),
                    "FB202611250031".to_owned(),
                    "FB202611190008".to_owned(),
                ],
                improvement: Some(Improvement {
                    id: "IMP-4".to_owned(),
                    title: "与承运商重新约定时效".to_owned(),
                    status: ImprovementStatus::Planned,
                    owner_team: "logistics".to_owned(),
                    due,
                    effect: None,
                }),
            },
            Issue {
                key: "account//".to_owned(),
                category: "account".to_owned(),
                product: String::new(),
                phrase: String::new(),
                count: 58,
                share: 58.0 / intake as f64,
                change: Some(0.0),
                repeat: ratio(3, 58),
                average_resolution_secs: Some(40 * 60),
                csat: ratio(30, 33),
                example_numbers: vec!["FB202611210040".to_owned()],
                improvement: None,
            },
            Issue {
                key: "//".to_owned(),
                category: String::new(),
                product: String::new(),
                phrase: "login".to_owned(),
                count: 41,
                share: 41.0 / intake as f64,
                change: Some(0.05),
                repeat: ratio(0, 41),
                average_resolution_secs: None,
                csat: Ratio::default(),
                example_numbers: Vec::new(),
                improvement: Some(Improvement {
                    id: "IMP-2".to_owned(),
                    title: "Single sign-on for the app".to_owned(),
                    status: ImprovementStatus::Dropped,
                    owner_team: "identity".to_owned(),
                    due,
                    effect: None,
                }),
            },
        ];
        report.improvement_rate = ratio(1, 5);
        report
    }

    /// The `name="…"` attribute of the first element that carries `marker`.
    fn attribute(html: &str, marker: &str, name: &str) -> f64 {
        let at = html.find(marker).expect("the marker");
        let element = &html[html[..at].rfind('<').expect("its element")..];
        let element = &element[..element.find('>').expect("its end")];
        let start = element.find(&format!(" {name}=\"")).expect("the attribute") + name.len() + 3;
        let value = &element[start..];
        value[..value.find('"').expect("its end")]
            .parse()
            .expect("a number")
    }

    fn section<'a>(html: &'a str, heading: &str) -> &'a str {
        let start = html
            .find(&format!("<h2>{heading}</h2>"))
            .expect("the section");
        let end = html[start..].find("</section>").expect("its end");
        &html[start..start + end]
    }

    #[test]
    fn titles_and_labels_come_in_either_language() {
        let report = sample();
        let (title, html) = render(&report, Language::Zh);
        assert_eq!(title, "客户反馈月报 2026-11");
        assert!(html.contains("<html lang=\"zh-CN\">"));
        assert!(html.contains("<title>客户反馈月报 2026-11</title>"));
        for label in [
            "每日工单量（按渠道）",
            "首次响应时间",
            "SLA 达成率",
            "每周满意度",
            "高频问题与整改",
            "整改率",
            "已完成",
            "热线",
            "微信",
        ] {
            assert!(html.contains(label), "{label}");
        }
        assert!(!html.contains("Customer feedback"));

        let (title, html) = render(&report, Language::En);
        assert_eq!(title, "Customer feedback report 2026-11");
        assert!(html.contains("<html lang=\"en\">"));
        for label in [
            "Tickets per day by channel",
            "First response time",
            "SLA attainment",
            "CSAT per week",
            "Top issues and improvements",
            "Improvement rate",
            "Done",
            "Hotline",
            "WeChat",
        ] {
            assert!(html.contains(label), "{label}");
        }
        assert!(!html.contains("客户反馈月报"));
        assert!(!html.contains("已完成"));
    }

    #[test]
    fn every_typed_text_is_escaped() {
        let mut report = sample();
        let issue = &mut report.issues[0];
        issue.category = "<b>cat</b>".to_owned();
        issue.product = "A&B \"shop\"".to_owned();
        issue.phrase = "it's <i>".to_owned();
        issue.key = "<k>".to_owned();
        issue.example_numbers = vec!["<n>".to_owned()];
        let improvement = issue.improvement.as_mut().expect("an improvement");
        improvement.title = "<script>alert(1)</script>".to_owned();
        improvement.owner_team = "<team>".to_owned();
        improvement.id = "<id>".to_owned();
        report.days[0]
            .intake
            .push(("<img src=x onerror=alert(1)>".to_owned(), 3));
        report.month = "<m>".to_owned();
        for language in [Language::Zh, Language::En] {
            let (_, html) = render(&report, language);
            assert!(!html.contains("<script"), "{language:?}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
            for raw in [
                "<b>cat", "<i>", "<k>", "<n>", "<team>", "<id>", "<img", "<m>",
            ] {
                assert!(!html.contains(raw), "{raw} in {language:?}");
            }
            assert!(html.contains("&lt;b&gt;cat&lt;/b&gt;"));
            assert!(html.contains("A&amp;B &quot;shop&quot;"));
            assert!(html.contains("it&#39;s &lt;i&gt;"));
            assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        }
    }

    #[test]
    fn an_empty_month_says_so() {
        for (language, says) in [
            (Language::Zh, "本月没有工单"),
            (Language::En, "No tickets this month"),
        ] {
            let (title, html) = render(&empty(), language);
            assert!(title.ends_with("2026-11"));
            assert!(html.contains(says));
            assert!(!html.contains("<svg"), "no charts without data");
            assert!(!html.contains("NaN") && !html.contains("inf"));
            assert!(!html.contains("0 / 0"), "no empty fractions");
            assert!(html.contains("</html>"));
        }
    }

    #[test]
    fn a_month_shows_its_figures_in_charts() {
        let report = sample();
        let (_, html) = render(&report, Language::En);
        assert!(!html.contains("<script"));
        assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("url("));
        assert!(!html.contains("NaN") && !html.contains("inf"));
        // One chart per section: intake, times, the SLA's month and weeks, CSAT.
        assert_eq!(html.matches("<svg").count(), 5);
        for heading in [
            "Tickets per day by channel",
            "First response and resolution time per day",
            "CSAT per week",
        ] {
            assert!(section(&html, heading).contains("<svg"), "{heading}");
        }
        assert_eq!(section(&html, "SLA attainment").matches("<svg").count(), 2);

        // The total intake and the month's other figures as given.
        let intake = thousands(report.totals.intake);
        assert!(html.contains(&format!("<div class=\"value\">{intake}</div>")));
        assert!(
            html.contains("<div class=\"value\">83.3%</div>"),
            "CSAT 642/771"
        );
        assert!(
            html.contains("<div class=\"value\">49 min</div>"),
            "first response p50"
        );
        assert!(
            html.contains("<div class=\"value\">27 h</div>"),
            "resolution p50"
        );
        assert!(html.contains("P90 3.1 d"), "resolution p90");
        assert!(html.contains("<div class=\"value\">32</div>"), "NPS 31.6");
        assert!(html.contains("97.5%</tspan>  met 1,588 · breached 41"));

        // Bars as high as their counts.
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).expect("a day");
        let count = |d: u32, c: &str| {
            report
                .days
                .iter()
                .find(|x| x.date == day(d))
                .expect("the day")
                .intake
                .iter()
                .find(|(k, _)| k == c)
                .expect("the channel")
                .1 as f64
        };
        let height = |d: u32, c: &str| {
            attribute(
                &html,
                &format!("data-day=\"{}\" data-channel=\"{c}\"", day(d)),
                "height",
            )
        };
        let unit = height(2, "HOTLINE") / count(2, "HOTLINE");
        for (d, c) in [
            (1, "APP"),
            (7, "EMAIL"),
            (18, "SOCIAL_MEDIA"),
            (30, "WECHAT"),
        ] {
            assert!((height(d, c) - unit * count(d, c)).abs() < 0.02, "{d} {c}");
        }
        // The highest day's stack ends under the axis's top, which is a round number.
        let max = report
            .days
            .iter()
            .map(|d| d.intake.iter().map(|(_, n)| n).sum::<i64>())
            .max()
            .expect("days");
        let top = Axis::new(max as f64, 5, true).top;
        assert!(top >= max as f64 && top % 10.0 == 0.0);
        assert!((unit * top - 234.0).abs() < 0.05, "the plot is 234 high");

        // The issues table: shares, changes and the improvement's effect.
        let issues = section(&html, "Top issues and improvements");
        assert!(issues.contains("↑ 32%") && issues.contains("↓ 41%") && issues.contains(">new<"));
        assert!(issues.contains("tickets 226 → 133"));
        assert!(issues.contains("class=\"status DONE\">Done<"));
        assert!(issues.contains("FB202611280017"));
        assert!(issues.contains("<b>20%</b> (1 / 5 top issues with a done improvement)"));
    }

    #[test]
    fn the_time_lines_break_where_a_day_has_no_figure() {
        let report = sample();
        let (_, html) = render(&report, Language::Zh);
        let times = section(&html, "每日首次响应与解决时间");
        // First response misses the 13th: two runs. Resolution misses the 13th, 14th and
        // everything from the 27th: two runs.
        assert_eq!(times.matches("<polyline").count(), 4);
        let points = times.matches("<circle").count();
        assert_eq!(points, 29 + 24);
        let mut report = report;
        for day in &mut report.days {
            day.first_response_p50 = None;
            day.resolution_p50 = None;
        }
        let (_, html) = render(&report, Language::Zh);
        assert!(!html.contains("每日首次响应与解决时间"));
    }

    #[test]
    fn channels_past_the_palette_share_one_colour_and_short_times_read_in_minutes() {
        let mut report = sample();
        for day in &mut report.days {
            for extra in ["API", "IN_PERSON", "KIOSK", "PARTNER", "FAX"] {
                day.intake.push((extra.to_owned(), 1));
            }
            day.first_response_p50 = day.first_response_p50.map(|s| s % 3000);
        }
        let (_, html) = render(&report, Language::En);
        let intake = section(&html, "Tickets per day by channel");
        // Nine channels by name; the extras tie at 30 tickets and sort by name, so KIOSK
        // and PARTNER are "other".
        assert_eq!(intake.matches("<li>").count(), 10);
        assert!(intake.contains("<i style=\"background:#bab0ac\"></i>other <"));
        assert!(!intake.contains("KIOSK"));
        assert!(!intake.contains("PARTNER"));
        assert_eq!(
            intake
                .matches("data-day=\"2026-11-01\" data-channel=\"\"")
                .count(),
            1,
            "one segment for the rest"
        );
        let times = section(&html, "First response and resolution time per day");
        assert!(times.contains("First response time · median (minutes)"));
        assert!(times.contains("Resolution time · median (hours)"));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let axis = |max, ticks| {
            let a = Axis::new(max, ticks, false);
            (a.top, a.step)
        };
        assert_eq!(axis(87.0, 5), (100.0, 20.0));
        assert_eq!(axis(7.0, 5), (8.0, 2.0));
        assert_eq!(axis(100.0, 5), (100.0, 20.0));
        assert_eq!(axis(0.6, 4), (0.6, 0.2));
        assert_eq!(axis(31.2, 4), (40.0, 10.0));
        assert_eq!(axis(0.0, 4), (1.0, 0.5));
        assert_eq!(axis(f64::NAN, 4), (1.0, 0.5));
        assert_eq!(
            Axis::new(3.0, 5, true),
            Axis {
                top: 3.0,
                step: 1.0
            }
        );
        assert_eq!(
            Axis::new(1234.0, 5, true),
            Axis {
                top: 1500.0,
                step: 500.0
            }
        );
        assert_eq!(Axis::new(0.6, 4, false).decimals(), 1);
        assert_eq!(Axis::new(0.06, 4, false).decimals(), 2);
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
        assert_eq!(compact(980), "980");
        assert_eq!(compact(2_345), "2.3k");
        assert_eq!(compact(12_499), "12k");
        assert_eq!(compact(1_500_000), "1.5M");
        assert_eq!(percent(ratio(1, 3)), "33.3%");
        assert_eq!(percent(ratio(2, 2)), "100%");
        assert_eq!(percent(ratio(0, 0)), "—");
        assert_eq!(duration(59, Language::En), "1 min");
        assert_eq!(duration(2700, Language::Zh), "45 分钟");
        assert_eq!(duration(5400, Language::En), "1.5 h");
        assert_eq!(duration(3 * 86_400, Language::Zh), "3 天");
    }

    /// Writes the sample month to /tmp/report-zh.html and /tmp/report-en.html to look at.
    #[test]
    #[ignore]
    fn write_sample_reports() {
        let report = sample();
        for language in [Language::Zh, Language::En] {
            let (_, html) = render(&report, language);
            std::fs::write(format!("/tmp/report-{}.html", language.as_str()), html)
                .expect("written");
        }
        let (_, html) = render(&empty(), Language::Zh);
        std::fs::write("/tmp/report-empty.html", html).expect("written");
        // A busy month: forty times the tickets, channels past the palette, long texts.
        let mut busy = report;
        for (i, day) in busy.days.iter_mut().enumerate() {
            for (_, n) in &mut day.intake {
                *n *= 40;
            }
            for extra in ["API", "IN_PERSON", "KIOSK", "PARTNER", "FAX"] {
                day.intake.push((extra.to_owned(), 90 + i as i64));
            }
            day.first_response_p50 = day.first_response_p50.map(|s| s / 20);
        }
        busy.totals.intake *= 40;
        busy.issues[0].phrase = "支付失败以后自动退款一直没有到账而且客服电话打不通".to_owned();
        if let Some(improvement) = busy.issues[0].improvement.as_mut() {
            improvement.title = "Rework the whole refund pipeline so that failed payments are \
                                 refunded within one hour and the customer is told"
                .to_owned();
        }
        let (_, html) = render(&busy, Language::En);
        std::fs::write("/tmp/report-busy.html", html).expect("written");
    }
}

//! Episodic recall: conversations are stored as episodes of timestamped turns, and a question
//! such as "¿qué hablamos ayer?" or "what did we discuss 3 days ago about the trip?" is split
//! into a time range (resolved in the user's time zone) and a topic, then answered with what
//! was said then, with dates.
//!
//! Time expressions understood (Spanish and English, accents optional): hoy/today, ayer/
//! yesterday, anteayer/antier/day before yesterday, anoche/last night, esta mañana/this
//! morning, esta tarde/this afternoon, esta noche/tonight, hace N horas|días|semanas|meses /
//! N hours|days|weeks|months ago (numbers as digits or words), hace un rato/a while ago,
//! esta semana/this week, la semana pasada/last week, este mes/this month, el mes pasado/last
//! month, el año pasado/last year, weekdays (el lunes, el martes pasado, on monday, last
//! friday), dates (el 3 de marzo, march 3, 3rd of march), each optionally narrowed by a part of
//! the day (ayer por la tarde, monday morning).

use super::store::{Episode, Filter, Memory, MemoryStore, Turn};
use super::text::{first_words, fold, is_stopword};
use crate::error::{Error, Result};
use crate::tokenizer::Message;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use serde::{Deserialize, Serialize};

/// A resolved time expression: `[start, end)` in ms since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
    /// The words of the question that named it ("la semana pasada").
    pub expression: String,
}

/// What a question resolved to and what was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecall {
    pub range: Option<TimeRange>,
    /// The question's words left after the time expression and function words ("viaje").
    pub topic: Option<String>,
    /// Whether the turns were filtered by the topic (false: nothing matched it, so every turn
    /// of the range is returned).
    pub topic_matched: bool,
    pub turns: Vec<Turn>,
    /// Memories remembered in the range (or matching the topic when there is no range).
    pub memories: Vec<Memory>,
    pub episodes: Vec<Episode>,
}

/// Store a conversation as one episode of `user` whose turns are `at` apart by one second
/// each, starting at `at` (ms). Returns the episode.
pub fn record_conversation(
    store: &mut MemoryStore,
    user: &str,
    session: Option<&str>,
    messages: &[Message],
    at: i64,
) -> Result<Episode> {
    let ep = store.start_episode(user, session, None, at)?;
    for (i, m) in messages.iter().enumerate() {
        store.add_turn(user, ep.id, m.role.as_str(), &m.content, at + i as i64 * 1000)?;
    }
    Ok(ep)
}

/// How long a session may stay silent before its next turn starts a new episode.
pub const EPISODE_IDLE_MS: i64 = 30 * 60_000;

/// Log one turn of `user`'s conversation in `session` at `at` (ms): it continues the session's
/// latest episode when that ended less than [`EPISODE_IDLE_MS`] before, else it starts a new
/// episode. The one place where episodes are cut, for every front-end. Returns the turn and
/// its episode.
pub fn log_turn(
    store: &mut MemoryStore,
    user: &str,
    session: Option<&str>,
    role: &str,
    text: &str,
    at: i64,
) -> Result<(Turn, Episode)> {
    let recent = store
        .episodes(user)?
        .into_iter()
        .rev()
        .find(|e| e.session.as_deref() == session && at >= e.ended_at && at - e.ended_at < EPISODE_IDLE_MS);
    let episode = match recent {
        Some(e) => e,
        None => store.start_episode(user, session, None, at)?,
    };
    let turn = store.add_turn(user, episode.id, role, text, at)?;
    Ok((turn, episode))
}

/// Most user lines an episode summary keeps, and words per line.
const EPISODE_SUMMARY_LINES: usize = 3;
const EPISODE_SUMMARY_WORDS: usize = 10;

/// A one-line summary of an episode, made without the model (deterministic, extractive):
/// its date and times in `tz`, how many turns, and the first words of its first user
/// messages. "2026-03-02 10:00–10:20 (6 turns): mi perro se llama Rocky · el tiempo en Roma"
pub fn episode_summary<Tz: TimeZone>(episode: &Episode, turns: &[Turn], tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let at = |ms: i64| DateTime::from_timestamp_millis(ms).map(|d| d.with_timezone(tz));
    let when = match (at(episode.started_at), at(episode.ended_at)) {
        (Some(a), Some(b)) => format!("{}–{}", a.format("%Y-%m-%d %H:%M"), b.format("%H:%M")),
        _ => String::from("?"),
    };
    let said: Vec<String> = turns
        .iter()
        .filter(|t| t.role == "user")
        .take(EPISODE_SUMMARY_LINES)
        .map(|t| first_words(&t.text, EPISODE_SUMMARY_WORDS))
        .collect();
    let n = turns.len();
    format!("{when} ({n} turn{}): {}", if n == 1 { "" } else { "s" }, said.join(" · "))
}

/// Answer an episodic question for `user` at time `now` (whose zone resolves "ayer").
pub fn recall<Tz: TimeZone>(
    store: &MemoryStore,
    user: &str,
    question: &str,
    now: &DateTime<Tz>,
    limit: usize,
) -> Result<EpisodeRecall> {
    super::store::validate_user(user)?;
    let parsed = parse_time(question, now);
    let topic_words: Vec<String> = {
        let words = words(question);
        words
            .iter()
            .enumerate()
            .filter(|(i, w)| {
                !parsed.as_ref().is_some_and(|(_, used)| used.contains(i)) && !is_stopword(w) && !is_recall_word(w)
            })
            .map(|(_, w)| w.clone())
            .collect()
    };
    let topic = (!topic_words.is_empty()).then(|| topic_words.join(" "));
    let range = parsed.map(|(r, _)| r);
    let (turns, topic_matched, memories) = match &range {
        Some(r) => {
            let mut turns = match &topic {
                Some(t) => store.turns_between(user, r.start, r.end, Some(t), limit)?,
                None => Vec::new(),
            };
            let matched = !turns.is_empty();
            if turns.is_empty() {
                turns = store.turns_between(user, r.start, r.end, None, limit)?;
            }
            let filter = Filter { since: Some(r.start), until: Some(r.end), ..Filter::default() };
            (turns, matched, store.list(user, &filter, Some(limit))?)
        }
        None => {
            let turns = match &topic {
                Some(t) => store.turns_between(user, i64::MIN, i64::MAX, Some(t), limit)?,
                None => Vec::new(),
            };
            let ids: Vec<i64> = match &topic {
                Some(t) => {
                    store.search_fulltext(user, t, &Filter::default(), limit)?.into_iter().map(|h| h.id).collect()
                }
                None => Vec::new(),
            };
            let matched = !turns.is_empty();
            (turns, matched, store.get_many(user, &ids)?)
        }
    };
    let mut episode_ids: Vec<i64> = turns.iter().map(|t| t.episode_id).collect();
    episode_ids.dedup();
    let episodes = store.episodes(user)?.into_iter().filter(|e| episode_ids.contains(&e.id)).collect();
    Ok(EpisodeRecall { range, topic, topic_matched, turns, memories, episodes })
}

/// A point in time as a user writes it, in milliseconds since the epoch: RFC 3339
/// (`2026-01-31T09:30:00Z`), a date (`2026-01-31`, midnight in `now`'s time zone), or a time
/// expression ("ayer", "last week": its start, or its end when `end` is set, for the end of a
/// range). The one rule the CLI and the server use for `since`, `until` and `at`; `what` names
/// the input in the error.
pub fn parse_instant<Tz: TimeZone>(what: &str, s: &str, end: bool, now: &DateTime<Tz>) -> Result<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = now.timezone().from_local_datetime(&d.and_time(NaiveTime::MIN)).earliest() {
            return Ok(t.timestamp_millis());
        }
    }
    if let Some(r) = parse_time_range(s, now) {
        return Ok(if end { r.end } else { r.start });
    }
    Err(Error::invalid(
        what,
        format!(
            "'{s}' is not a time: use RFC 3339 (2026-01-31T09:30:00Z), a date (2026-01-31) or words such as 'ayer' \
             or 'last week'"
        ),
    ))
}

/// Resolve the first time expression in `text` to a range, in `now`'s time zone.
pub fn parse_time_range<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Option<TimeRange> {
    parse_time(text, now).map(|(r, _)| r)
}

fn is_recall_word(w: &str) -> bool {
    const W: &[&str] = &[
        "hablamos",
        "hablaste",
        "hable",
        "dijimos",
        "dije",
        "dijiste",
        "conversamos",
        "charlamos",
        "paso",
        "hicimos",
        "platicamos",
        "acuerdas",
        "recuerdas",
        "talk",
        "talked",
        "discuss",
        "discussed",
        "said",
        "say",
        "chat",
        "chatted",
        "happened",
        "we",
        "us",
        "did",
    ];
    W.contains(&w)
}

/// Lower-cased, accent-folded words.
fn words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

fn number(w: &str) -> Option<i64> {
    if let Ok(n) = w.parse::<i64>() {
        return (0..=10_000).contains(&n).then_some(n);
    }
    let n = match w {
        "un" | "una" | "uno" | "a" | "an" | "one" => 1,
        "dos" | "two" | "couple" => 2,
        "tres" | "three" => 3,
        "cuatro" | "four" => 4,
        "cinco" | "five" => 5,
        "seis" | "six" => 6,
        "siete" | "seven" => 7,
        "ocho" | "eight" => 8,
        "nueve" | "nine" => 9,
        "diez" | "ten" => 10,
        "once" | "eleven" => 11,
        "doce" | "twelve" => 12,
        "quince" | "fifteen" => 15,
        "veinte" | "twenty" => 20,
        "treinta" | "thirty" => 30,
        _ => return None,
    };
    Some(n)
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "lunes" | "monday" => Weekday::Mon,
        "martes" | "tuesday" => Weekday::Tue,
        "miercoles" | "wednesday" => Weekday::Wed,
        "jueves" | "thursday" => Weekday::Thu,
        "viernes" | "friday" => Weekday::Fri,
        "sabado" | "saturday" => Weekday::Sat,
        "domingo" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

fn month(w: &str) -> Option<u32> {
    Some(match w {
        "enero" | "january" | "jan" => 1,
        "febrero" | "february" | "feb" => 2,
        "marzo" | "march" | "mar" => 3,
        "abril" | "april" | "apr" => 4,
        "mayo" | "may" => 5,
        "junio" | "june" | "jun" => 6,
        "julio" | "july" | "jul" => 7,
        "agosto" | "august" | "aug" => 8,
        "septiembre" | "setiembre" | "september" | "sep" | "sept" => 9,
        "octubre" | "october" | "oct" => 10,
        "noviembre" | "november" | "nov" => 11,
        "diciembre" | "december" | "dec" => 12,
        _ => return None,
    })
}

#[derive(Clone, Copy)]
enum Unit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

fn unit(w: &str) -> Option<Unit> {
    Some(match w {
        "minuto" | "minutos" | "minute" | "minutes" | "min" | "mins" => Unit::Minute,
        "hora" | "horas" | "hour" | "hours" | "h" => Unit::Hour,
        "dia" | "dias" | "day" | "days" => Unit::Day,
        "semana" | "semanas" | "week" | "weeks" => Unit::Week,
        "mes" | "meses" | "month" | "months" => Unit::Month,
        "ano" | "anos" | "year" | "years" => Unit::Year,
        _ => return None,
    })
}

/// Hours `[from, to)` of a part of the day named at word `i` (with what precedes it), and
/// how many words it spans backwards.
fn part_of_day(w: &[String], i: usize) -> Option<(u32, u32)> {
    let prev = |k: usize| if i >= k { w.get(i - k).map(String::as_str) } else { None };
    let after_article = matches!(prev(1), Some("la" | "esta" | "las"));
    match w[i].as_str() {
        "manana" if after_article => Some((5, 12)),
        "tarde" if after_article => Some((12, 20)),
        "noche" if after_article => Some((19, 24)),
        "morning" => Some((5, 12)),
        "afternoon" => Some((12, 18)),
        "evening" => Some((18, 24)),
        "night" | "tonight" => Some((19, 24)),
        "madrugada" => Some((0, 6)),
        _ => None,
    }
}

/// Find a time expression; return its range and the word indices it used.
fn parse_time<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Option<(TimeRange, Vec<usize>)> {
    let w = words(text);
    let tz = now.timezone();
    let today = now.date_naive();
    let now_ms = now.timestamp_millis();
    // Local midnight of a date, in ms (the earliest instant if DST makes it ambiguous).
    let day_start = |d: NaiveDate| -> i64 {
        let local = d.and_time(NaiveTime::MIN);
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest())
            .map_or(0, |t| t.timestamp_millis())
    };
    let at_hour = |d: NaiveDate, h: u32| -> i64 {
        if h >= 24 {
            day_start(d + Duration::days(1))
        } else {
            let local = d.and_hms_opt(h, 0, 0).unwrap_or(d.and_time(NaiveTime::MIN));
            tz.from_local_datetime(&local)
                .earliest()
                .map_or(day_start(d) + h as i64 * 3_600_000, |t| t.timestamp_millis())
        }
    };
    let days = |from: NaiveDate, to_excl: NaiveDate| (day_start(from), day_start(to_excl));
    let expr = |used: &[usize]| used.iter().map(|&i| w[i].as_str()).collect::<Vec<_>>().join(" ");
    let is = |i: usize, s: &str| w.get(i).is_some_and(|x| x == s);
    let week_start = |d: NaiveDate| d - Duration::days(d.weekday().num_days_from_monday() as i64);
    let month_start = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1);
    let prev_month = |y: i32, m: u32| if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let next_month = |y: i32, m: u32| if m == 12 { (y + 1, 1) } else { (y, m + 1) };

    // A single day found at `used`, narrowed by a part of the day that follows it (or precedes
    // it: "monday morning", "la tarde del lunes").
    let day_result = |d: NaiveDate, mut used: Vec<usize>| -> (TimeRange, Vec<usize>) {
        let lo = used.iter().min().copied().unwrap_or(0);
        let hi = used.iter().max().copied().unwrap_or(0);
        for j in hi + 1..(hi + 5).min(w.len()) {
            if let Some((a, b)) = part_of_day(&w, j) {
                used.extend(hi + 1..=j);
                let (s, e) = (at_hour(d, a), at_hour(d, b));
                return (TimeRange { start: s, end: e, expression: expr(&used) }, used);
            }
        }
        for j in lo.saturating_sub(3)..lo {
            if let Some((a, b)) = part_of_day(&w, j) {
                used.extend(j..lo);
                used.sort_unstable();
                let (s, e) = (at_hour(d, a), at_hour(d, b));
                return (TimeRange { start: s, end: e, expression: expr(&used) }, used);
            }
        }
        let (s, e) = days(d, d + Duration::days(1));
        (TimeRange { start: s, end: e, expression: expr(&used) }, used)
    };

    for i in 0..w.len() {
        let t = w[i].as_str();
        // anteayer / antes de ayer / day before yesterday
        if t == "anteayer" || t == "antier" {
            return Some(day_result(today - Duration::days(2), vec![i]));
        }
        if t == "antes" && is(i + 1, "de") && is(i + 2, "ayer") {
            return Some(day_result(today - Duration::days(2), vec![i, i + 1, i + 2]));
        }
        if t == "day" && is(i + 1, "before") && is(i + 2, "yesterday") {
            let mut used = vec![i, i + 1, i + 2];
            if i > 0 && is(i - 1, "the") {
                used.insert(0, i - 1);
            }
            return Some(day_result(today - Duration::days(2), used));
        }
        // anoche / last night
        if t == "anoche" || (t == "last" && is(i + 1, "night")) {
            let used = if t == "anoche" { vec![i] } else { vec![i, i + 1] };
            let y = today - Duration::days(1);
            return Some((TimeRange { start: at_hour(y, 18), end: at_hour(today, 6), expression: expr(&used) }, used));
        }
        if t == "ayer" || t == "yesterday" {
            return Some(day_result(today - Duration::days(1), vec![i]));
        }
        if t == "hoy" || t == "today" {
            let (r, used) = day_result(today, vec![i]);
            return Some((TimeRange { end: r.end.min(now_ms + 1), ..r }, used));
        }
        // esta mañana / this morning / tonight
        if (t == "esta" || t == "this") && i + 1 < w.len() {
            if let Some((a, b)) = part_of_day(&w, i + 1) {
                let used = vec![i, i + 1];
                return Some((
                    TimeRange { start: at_hour(today, a), end: at_hour(today, b), expression: expr(&used) },
                    used,
                ));
            }
        }
        if t == "tonight" {
            return Some((
                TimeRange { start: at_hour(today, 19), end: at_hour(today, 24), expression: t.into() },
                vec![i],
            ));
        }
        // hace un rato / a while ago / earlier today
        if (t == "hace" && is(i + 1, "un") && is(i + 2, "rato")) || (t == "while" && is(i + 1, "ago")) {
            let used = if t == "hace" { vec![i, i + 1, i + 2] } else { vec![i, i + 1] };
            return Some((TimeRange { start: now_ms - 3 * 3_600_000, end: now_ms + 1, expression: expr(&used) }, used));
        }
        // hace N unidades / N units ago
        let ago = if t == "hace" {
            match (w.get(i + 1).and_then(|x| number(x)), w.get(i + 1).and_then(|x| unit(x))) {
                (Some(n), _) => w.get(i + 2).and_then(|x| unit(x)).map(|u| (n, u, vec![i, i + 1, i + 2])),
                (None, Some(u)) => Some((1, u, vec![i, i + 1])), // "hace semanas" is vague: one
                _ => None,
            }
        } else if let (Some(n), Some(u)) = (number(t), w.get(i + 1).and_then(|x| unit(x))) {
            is(i + 2, "ago").then(|| (n, u, vec![i, i + 1, i + 2]))
        } else {
            None
        };
        if let Some((n, u, used)) = ago {
            let e = expr(&used);
            return Some(match u {
                Unit::Minute => (
                    TimeRange {
                        start: now_ms - (n + 5) * 60_000,
                        end: now_ms - (n - 5).max(0) * 60_000 + 1,
                        expression: e,
                    },
                    used,
                ),
                Unit::Hour => (
                    TimeRange {
                        start: now_ms - (n + 1) * 3_600_000,
                        end: now_ms - (n - 1).max(0) * 3_600_000 + 1,
                        expression: e,
                    },
                    used,
                ),
                Unit::Day => day_result(today - Duration::days(n), used),
                Unit::Week => {
                    let ws = week_start(today - Duration::days(7 * n));
                    let (s, e2) = days(ws, ws + Duration::days(7));
                    (TimeRange { start: s, end: e2, expression: e }, used)
                }
                Unit::Month => {
                    let (mut y, mut m) = (today.year(), today.month());
                    for _ in 0..n.min(1200) {
                        (y, m) = prev_month(y, m);
                    }
                    let (ny, nm) = next_month(y, m);
                    let (s, e2) = days(month_start(y, m)?, month_start(ny, nm)?);
                    (TimeRange { start: s, end: e2, expression: e }, used)
                }
                Unit::Year => {
                    let y = today.year() - n as i32;
                    let (s, e2) = days(NaiveDate::from_ymd_opt(y, 1, 1)?, NaiveDate::from_ymd_opt(y + 1, 1, 1)?);
                    (TimeRange { start: s, end: e2, expression: e }, used)
                }
            });
        }
        // la semana pasada / last week / esta semana / this week (and month, year)
        let last = |i: usize| -> Option<(Unit, Vec<usize>)> {
            if w[i] == "last" || w[i] == "past" || w[i] == "previous" {
                return w.get(i + 1).and_then(|x| unit(x)).map(|u| (u, vec![i, i + 1]));
            }
            let u = unit(&w[i])?;
            (is(i + 1, "pasada") || is(i + 1, "pasado") || is(i + 1, "anterior")).then(|| {
                let mut used = vec![i, i + 1];
                if i > 0 && matches!(w[i - 1].as_str(), "la" | "el") {
                    used.insert(0, i - 1);
                }
                (u, used)
            })
        };
        if let Some((u, used)) = last(i) {
            let e = expr(&used);
            let r = match u {
                Unit::Week => {
                    let ws = week_start(today) - Duration::days(7);
                    days(ws, ws + Duration::days(7))
                }
                Unit::Month => {
                    let (y, m) = prev_month(today.year(), today.month());
                    days(month_start(y, m)?, month_start(today.year(), today.month())?)
                }
                Unit::Year => {
                    days(NaiveDate::from_ymd_opt(today.year() - 1, 1, 1)?, NaiveDate::from_ymd_opt(today.year(), 1, 1)?)
                }
                Unit::Day => days(today - Duration::days(1), today),
                Unit::Hour => (now_ms - 2 * 3_600_000, now_ms + 1),
                Unit::Minute => (now_ms - 10 * 60_000, now_ms + 1),
            };
            return Some((TimeRange { start: r.0, end: r.1, expression: e }, used));
        }
        if (t == "esta" || t == "este" || t == "this") && i + 1 < w.len() {
            if let Some(u) = unit(&w[i + 1]) {
                let used = vec![i, i + 1];
                let start = match u {
                    Unit::Week => day_start(week_start(today)),
                    Unit::Month => day_start(month_start(today.year(), today.month())?),
                    Unit::Year => day_start(NaiveDate::from_ymd_opt(today.year(), 1, 1)?),
                    Unit::Day => day_start(today),
                    Unit::Hour => now_ms - 3_600_000,
                    Unit::Minute => now_ms - 60_000,
                };
                return Some((TimeRange { start, end: now_ms + 1, expression: expr(&used) }, used));
            }
        }
        // el lunes / el lunes pasado / on monday / last monday: the latest such day before today
        if let Some(wd) = weekday(t) {
            let mut back =
                (today.weekday().num_days_from_monday() as i64 - wd.num_days_from_monday() as i64).rem_euclid(7);
            if back == 0 {
                back = 7;
            }
            let mut used = vec![i];
            if i > 0 && matches!(w[i - 1].as_str(), "el" | "on" | "last" | "este" | "this") {
                used.insert(0, i - 1);
            }
            if is(i + 1, "pasado") {
                used.push(i + 1);
            }
            return Some(day_result(today - Duration::days(back), used));
        }
        // el 3 de marzo / 3 march / march 3 / march 3rd / 3rd of march
        let ordinal = |s: &str| -> Option<u32> {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            let rest = &s[digits.len()..];
            (!digits.is_empty() && matches!(rest, "" | "st" | "nd" | "rd" | "th"))
                .then(|| digits.parse().ok())
                .flatten()
        };
        let date = if let Some(d) = ordinal(t) {
            if is(i + 1, "de") || is(i + 1, "of") {
                w.get(i + 2).and_then(|x| month(x)).map(|m| (d, m, vec![i, i + 1, i + 2]))
            } else {
                w.get(i + 1).and_then(|x| month(x)).map(|m| (d, m, vec![i, i + 1]))
            }
        } else if let Some(m) = month(t).filter(|_| t.len() > 3 || w.len() > 1) {
            w.get(i + 1).and_then(|x| ordinal(x)).map(|d| (d, m, vec![i, i + 1]))
        } else {
            None
        };
        if let Some((d, m, mut used)) = date {
            if t.len() <= 3 && month(t).is_some() && t == "may" && w.get(i + 1).is_none_or(|x| ordinal(x).is_none()) {
                continue;
            }
            let this_year = NaiveDate::from_ymd_opt(today.year(), m, d);
            let date = match this_year {
                Some(x) if x <= today => Some(x),
                _ => NaiveDate::from_ymd_opt(today.year() - 1, m, d),
            };
            if let Some(date) = date {
                if i > 0 && matches!(w[i - 1].as_str(), "el" | "on") {
                    used.insert(0, i - 1);
                }
                return Some(day_result(date, used));
            }
        }
    }
    None
}

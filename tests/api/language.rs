//! Customer texts in the customer's language: the language a ticket's customer is written to
//! in (given, detected from Chinese characters, or the server's default), the acknowledgement
//! with its times in the team's calendar zone, and the survey's questions and thanks.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use feedbackd::domain::clock::{ManualClock, SystemClock};
use feedbackd::proto::feedback::v1 as pb;
use pb::sla_service_client::SlaServiceClient;
use pb::survey_service_client::SurveyServiceClient;

use crate::both;
use crate::support::{Backend, Client, TestDb, TestServer, bad_fields, product_team};

both!(
    a_chinese_customer_reads_chinese,
    the_language_is_given_detected_or_the_default,
    templates_hold_prompts_in_both_languages,
);

/// A complaint about the desk's product, from `name`, in `title` and `description`.
fn complaint(
    name: &str,
    title: &str,
    description: &str,
    language: &str,
) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        channel: pb::Channel::Hotline.into(),
        kind: pb::TicketKind::Complaint.into(),
        title: title.into(),
        description: description.into(),
        product: "desk".into(),
        priority: pb::Priority::High.into(),
        customer: Some(pb::Customer {
            name: name.into(),
            phone: "13800138000".into(),
            language: language.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create(c: &mut Client, request: pb::CreateTicketRequest) -> pb::CreateTicketResponse {
    c.create_ticket(request).await.unwrap().into_inner()
}

async fn a_chinese_customer_reads_chinese(backend: Backend) {
    // Friday 27 November 2026, 17:30 in Shanghai: half an hour of the working day is left.
    let clock = ManualClock::new(
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, 27, 17, 30, 0)
            .unwrap()
            .with_timezone(&Utc),
    );
    let s = TestServer::start_on(
        Arc::new(TestDb::new(backend).await),
        Arc::new(clock.clone()),
        |_| {},
    )
    .await;
    let mut c = s.client().await;
    let mut sla = SlaServiceClient::new(s.channel());
    sla.create_calendar(pb::CreateCalendarRequest {
        calendar: Some(pb::Calendar {
            id: "shanghai".into(),
            time_zone: "Asia/Shanghai".into(),
            weekly_hours: (1..=5)
                .map(|weekday| pb::WeekdayHours {
                    weekday,
                    periods: vec![pb::WorkingPeriod {
                        start: "09:00".into(),
                        end: "18:00".into(),
                    }],
                })
                .collect(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    product_team(
        &mut s.routing().await,
        "desk",
        "shanghai",
        &[("li", true)],
        "",
    )
    .await;

    // HIGH: the first answer within 4 working hours, half an hour of them on Friday.
    let told = create(
        &mut c,
        complaint("王芳", "充电宝起火", "充电宝充电时起火，请尽快处理", ""),
    )
    .await;
    let t = told.ticket.unwrap();
    assert_eq!(t.customer.as_ref().unwrap().language, "zh");
    assert_eq!(
        told.acknowledgement,
        format!(
            "尊敬的王芳，您好！感谢您的投诉。您的工单号是 {}，今后联系我们时请提供此工单号。\
             我们将在2026年11月30日（星期一）12:30（北京时间）前回复您。",
            t.number
        )
    );

    // Saturday: outside working hours, and when the team is back.
    clock.advance(chrono::Duration::hours(20));
    let weekend = create(&mut c, complaint("", "退款没到账", "两周了", "")).await;
    assert!(
        weekend.acknowledgement.starts_with("您好！感谢您的投诉。"),
        "{}",
        weekend.acknowledgement
    );
    assert!(
        weekend.acknowledgement.ends_with(
            "您的投诉是在我们的工作时间以外收到的。我们将于2026年11月30日（星期一）09:00\
             （北京时间）恢复工作，并在2026年11月30日（星期一）13:00（北京时间）前回复您。"
        ),
        "{}",
        weekend.acknowledgement
    );

    // The survey asks in Chinese and thanks in Chinese.
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: t.id,
        agent: "li".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: t.id,
        resolution_summary: "已更换充电宝".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut surveys = SurveyServiceClient::new(s.channel());
    let invitation = surveys
        .list_ticket_surveys(pb::ListTicketSurveysRequest {
            ticket_id: t.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .surveys
        .remove(0);
    let shown = surveys
        .get_survey(pb::GetSurveyRequest {
            token: invitation.token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shown.language, "zh");
    let prompts: Vec<_> = shown.questions.iter().map(|q| q.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        [
            "您对问题的处理结果是否满意？",
            "您对我们工作人员的服务态度是否满意？",
            "您对我们的处理速度是否满意？",
            "您还有什么想告诉我们的吗？",
        ]
    );
    assert!(shown.questions.iter().all(|q| q.translations.is_empty()));
    let answered = surveys
        .submit_survey_response(pb::SubmitSurveyResponseRequest {
            token: invitation.token,
            answers: ["result", "attitude", "timeliness"]
                .into_iter()
                .map(|key| pb::SurveyAnswer {
                    question_key: key.into(),
                    value: Some(pb::survey_answer::Value::Score(5)),
                })
                .collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answered.message,
        format!("感谢您的评价，很高兴工单 {} 的问题已经解决。", t.number)
    );
    s.stop().await;
}

async fn the_language_is_given_detected_or_the_default(backend: Backend) {
    let db = Arc::new(TestDb::new(backend).await);
    let s = TestServer::start_on(db.clone(), Arc::new(SystemClock), |_| {}).await;
    let mut c = s.client().await;
    product_team(&mut s.routing().await, "desk", "", &[("li", true)], "").await;
    let language = |told: &pb::CreateTicketResponse| {
        told.ticket
            .as_ref()
            .unwrap()
            .customer
            .as_ref()
            .unwrap()
            .language
            .clone()
    };

    let english = create(
        &mut c,
        complaint("Li Lei", "Refund late", "Two weeks now", ""),
    )
    .await;
    assert_eq!(
        language(&english),
        "en",
        "no Chinese, and the default is en"
    );
    assert!(
        english
            .acknowledgement
            .starts_with("Dear Li Lei, thank you for your complaint.")
    );
    let asked = create(
        &mut c,
        complaint("Li Lei", "Refund late", "Two weeks now", "zh-CN"),
    )
    .await;
    assert_eq!(
        language(&asked),
        "zh",
        "the customer's own, by its language"
    );
    assert!(asked.acknowledgement.starts_with("尊敬的Li Lei，您好！"));
    let bad = c
        .create_ticket(complaint("Li Lei", "Refund late", "Two weeks now", "fr"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad), ["customer.language"]);

    // Corrected by hand, and settled again from the text when cleared.
    let mixed = create(&mut c, complaint("Wang", "Refund 退款", "late", "")).await;
    let id = mixed.ticket.as_ref().unwrap().id;
    assert_eq!(language(&mixed), "zh");
    let update = |language: &str| pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            id,
            customer: Some(pb::Customer {
                language: language.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["customer.language".into()],
        }),
        ..Default::default()
    };
    let customer_language =
        |reply: pb::UpdateTicketResponse| reply.ticket.unwrap().customer.unwrap().language;
    let set = c.update_ticket(update("en")).await.unwrap().into_inner();
    assert_eq!(customer_language(set), "en");
    let cleared = c.update_ticket(update("")).await.unwrap().into_inner();
    assert_eq!(customer_language(cleared), "zh");
    s.stop().await;

    // A service whose customers are Chinese by default.
    let s = TestServer::start_on(db, Arc::new(SystemClock), |config| {
        config.language = feedbackd::domain::language::Language::Zh;
    })
    .await;
    let mut c = s.client().await;
    let plain = create(&mut c, complaint("", "Refund late", "Two weeks now", "")).await;
    assert_eq!(language(&plain), "zh");
    s.stop().await;
}

async fn templates_hold_prompts_in_both_languages(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut surveys = SurveyServiceClient::new(s.channel());
    let default = surveys
        .get_survey_template(pb::GetSurveyTemplateRequest {
            id: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        default.questions[0]
            .translations
            .get("zh")
            .map(String::as_str),
        Some("您对问题的处理结果是否满意？")
    );
    let question = |translations: &[(&str, &str)]| pb::SurveyQuestion {
        key: "result".into(),
        prompt: "Solved?".into(),
        r#type: pb::QuestionType::Rating.into(),
        translations: translations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let created = surveys
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "short".into(),
                questions: vec![question(&[("zh-CN", "解决了吗？")])],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.questions[0].translations,
        [("zh".to_owned(), "解决了吗？".to_owned())].into()
    );
    let bad = surveys
        .create_survey_template(pb::CreateSurveyTemplateRequest {
            template: Some(pb::SurveyTemplate {
                id: "worse".into(),
                questions: vec![question(&[("fr", "Résolu ?"), ("zh", " ")])],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        [
            "template.questions[0].translations[fr]",
            "template.questions[0].translations[zh]"
        ]
    );
    s.stop().await;
}

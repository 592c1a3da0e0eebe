//! The notifications the loop sends, as NOTIFICATION events: whom, by which channel, what,
//! in the reader's language, at each step from intake to the survey.

use std::sync::Arc;
use std::time::{Duration, Instant};

use feedbackd::domain::clock::SystemClock;
use feedbackd::proto::feedback::v1 as pb;
use pb::notification_recipient::Who;

use crate::both;
use crate::support::{Backend, Client, TestDb, TestServer, product_team};

both!(each_step_tells_the_person_it_concerns_in_their_language);

/// The notifications of a ticket as staff read them, oldest first.
async fn notifications(c: &mut Client, ticket_id: i64) -> Vec<pb::Notification> {
    c.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id,
        event_types: vec![pb::EventType::Notification.into()],
        page_size: 100,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
    .into_iter()
    .map(|e| {
        e.notification
            .expect("a NOTIFICATION carries its notification")
    })
    .collect()
}

async fn each_step_tells_the_person_it_concerns_in_their_language(backend: Backend) {
    let s = TestServer::start_on(
        Arc::new(TestDb::new(backend).await),
        Arc::new(SystemClock),
        |config| {
            config.survey_delay = Duration::ZERO;
            config.survey_interval = Duration::from_millis(20);
            config.survey_url_template = Some("https://example.com/s/{token}".into());
        },
    )
    .await;
    product_team(&mut s.routing().await, "parcels", "", &[("ann", true)], "").await;
    let mut c = s.client().await;
    let reply = c
        .create_ticket(pb::CreateTicketRequest {
            channel: pb::Channel::Hotline.into(),
            kind: pb::TicketKind::Complaint.into(),
            title: "包裹丢失".into(),
            description: "快递显示已签收，但我没有收到".into(),
            product: "parcels".into(),
            customer: Some(pb::Customer {
                external_id: "c-9".into(),
                phone: "13800138000".into(),
                ..Default::default()
            }),
            actor: "hotline".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ticket = reply.ticket.unwrap();
    assert_eq!(ticket.assignee, "ann", "the router gives it to ann");
    let id = ticket.id;
    c.acknowledge_ticket(pb::AcknowledgeTicketRequest {
        ticket_id: id,
        agent: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let comment = |author: &str, role: pb::AuthorRole, body: &str| pb::AddCommentRequest {
        ticket_id: id,
        visibility: pb::CommentVisibility::Public.into(),
        body: body.into(),
        author: author.into(),
        author_role: role.into(),
        ..Default::default()
    };
    c.add_comment(comment(
        "ann",
        pb::AuthorRole::Agent,
        "我们正在联系快递公司",
    ))
    .await
    .unwrap();
    c.add_comment(pb::AddCommentRequest {
        visibility: pb::CommentVisibility::Internal.into(),
        ..comment("ann", pb::AuthorRole::Agent, "courier says delivered")
    })
    .await
    .unwrap();
    c.set_pending(pb::SetPendingRequest {
        ticket_id: id,
        reason: "请提供订单号".into(),
        actor: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The customer's own answer resumes the ticket and tells nobody anything.
    c.add_comment(comment(
        "c-9",
        pb::AuthorRole::Customer,
        "订单号 2026-1130-77",
    ))
    .await
    .unwrap();
    c.resolve_ticket(pb::ResolveTicketRequest {
        ticket_id: id,
        resolution_summary: "已为您补发".into(),
        actor: "ann".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let sent = notifications(&mut c, id).await;
        if sent.len() >= 7 {
            break sent;
        }
        assert!(Instant::now() < deadline, "so far: {sent:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    use pb::NotificationKind as K;
    assert_eq!(
        sent.iter().map(|n| n.kind()).collect::<Vec<_>>(),
        [
            K::Acknowledgement,
            K::Assignment,
            K::Progress,
            K::Progress,
            K::Progress,
            K::Progress,
            K::SurveyInvitation
        ],
        "{sent:#?}"
    );
    let (to_ann, to_customer): (Vec<_>, Vec<_>) = sent
        .iter()
        .partition(|n| n.recipient.as_ref().unwrap().who == Some(Who::AgentId("ann".into())));
    assert_eq!(to_ann.len(), 1);
    let todo = to_ann[0];
    assert_eq!(todo.kind(), K::Assignment);
    assert_eq!(
        (todo.language.as_str(), todo.channel()),
        ("en", pb::Channel::Unspecified)
    );
    assert!(
        todo.text
            .starts_with(&format!("New ticket for you: {}", ticket.number))
            && todo.text.contains("Please acknowledge it by"),
        "{}",
        todo.text
    );
    for n in &to_customer {
        assert_eq!(
            (n.language.as_str(), n.channel()),
            ("zh", pb::Channel::Hotline),
            "{n:?}"
        );
        let Some(Who::Customer(customer)) = &n.recipient.as_ref().unwrap().who else {
            panic!("{n:?} is not for the customer");
        };
        assert_eq!(
            customer.phone, "13800138000",
            "the contact to reach them by"
        );
        assert!(n.text.contains(&ticket.number), "{}", n.text);
    }
    assert_eq!(
        to_customer[0].text, reply.acknowledgement,
        "what the reply said"
    );
    assert!(
        to_customer[1].text.contains("已有专人受理"),
        "{}",
        to_customer[1].text
    );
    assert!(
        to_customer[2].text.ends_with("我们正在联系快递公司"),
        "{}",
        to_customer[2].text
    );
    assert!(
        to_customer[3].text.ends_with("请提供订单号"),
        "{}",
        to_customer[3].text
    );
    assert!(
        to_customer[4].text.ends_with("已为您补发"),
        "{}",
        to_customer[4].text
    );
    assert!(
        sent.iter().all(|n| !n.text.contains("courier says")),
        "internal notes reach no customer"
    );

    // Staff read the invitation without the survey's token; the connector's stream has it.
    let invitation = to_customer[5];
    assert_eq!(invitation.link, "https://example.com/s/…");
    assert!(
        invitation.text.ends_with("https://example.com/s/…"),
        "{}",
        invitation.text
    );
    let token = pb::survey_service_client::SurveyServiceClient::new(s.channel())
        .list_ticket_surveys(pb::ListTicketSurveysRequest {
            ticket_id: id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .surveys[0]
        .token
        .clone();
    let mut stream = c
        .watch_tickets(pb::WatchTicketsRequest {
            after_cursor: Some(0),
            ticket_id: id,
            event_types: vec![pb::EventType::Notification.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut live = Vec::new();
    while live.len() < 7 {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the notifications replay")
            .unwrap()
            .unwrap();
        live.extend(message.events);
    }
    let on_stream = live[6].notification.clone().unwrap();
    assert_eq!(on_stream.link, format!("https://example.com/s/{token}"));
    assert_eq!(live[6].survey.as_ref().unwrap().token, token);
    s.stop().await;
}

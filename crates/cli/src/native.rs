//! The one place the tools call librdkafka's C admin API directly, for what the `rdkafka`
//! crate's safe API lacks: topic ids, IncrementalAlterConfigs (whose per-resource errors the
//! crate's AlterConfigs drops), and DescribeConsumerGroups (KIP-848 groups included). Every pointer is created, used and destroyed inside one
//! function; callers see safe Rust types only.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::{Client, ClientContext};

/// One admin request on its own reply queue: `send` issues it with the options and queue it is
/// handed; `read` reads the result event, which is only valid during the call. The event,
/// options and queue are destroyed before this returns.
fn admin_request<C: ClientContext, T>(
    client: &Client<C>,
    op: rd::rd_kafka_admin_op_t,
    timeout: Duration,
    send: impl FnOnce(*mut rd::rd_kafka_t, *mut rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
    read: impl FnOnce(*mut rd::rd_kafka_event_t) -> Result<T, String>,
) -> Result<T, String> {
    let rk = client.native_ptr();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `rk` is a live client for the whole call; the queue, options and event are created
    // and destroyed here, and `read` copies what it needs out of the event before it goes.
    unsafe {
        let queue = rd::rd_kafka_queue_new(rk);
        let options = rd::rd_kafka_AdminOptions_new(rk, op);
        send(rk, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms);
        let result = if event.is_null() {
            Err(format!("no answer to {op:?} in time"))
        } else if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Err(text(rd::rd_kafka_event_error_string(event)))
        } else {
            read(event)
        };
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        result
    }
}

/// Topic name -> topic id (Kafka's URL-safe base64 form), through DescribeTopics.
pub(crate) fn topic_ids<C: ClientContext>(
    client: &Client<C>,
    names: &[String],
    timeout: Duration,
) -> Result<HashMap<String, String>, String> {
    let c_names =
        names.iter().map(|n| CString::new(n.as_str())).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let mut pointers: Vec<*const c_char> = c_names.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: the names outlive the collection, which librdkafka copies into its request; the
    // collection is destroyed here.
    let topics = unsafe { rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len()) };
    let result = admin_request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
        timeout,
        // SAFETY: arguments from `admin_request` and the live collection above.
        |rk, options, queue| unsafe { rd::rd_kafka_DescribeTopics(rk, topics, options, queue) },
        // SAFETY: the result belongs to the live event; strings are copied out.
        |event| unsafe {
            let described = rd::rd_kafka_event_DescribeTopics_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_DescribeTopics_result_topics(described, &mut count);
            let mut ids = HashMap::new();
            for i in 0..count {
                let topic = *list.add(i);
                let id = rd::rd_kafka_TopicDescription_topic_id(topic);
                let base64 = if id.is_null() { std::ptr::null() } else { rd::rd_kafka_Uuid_base64str(id) };
                if !base64.is_null() {
                    // librdkafka writes standard base64; Kafka shows ids URL-safe.
                    let id = text(base64).replace('+', "-").replace('/', "_");
                    ids.insert(text(rd::rd_kafka_TopicDescription_name(topic)), id);
                }
            }
            Ok(ids)
        },
    );
    // SAFETY: created above, no longer used.
    unsafe { rd::rd_kafka_TopicCollection_destroy(topics) };
    result
}

/// A config change: set a key to a value, or delete it (back to the default).
pub(crate) enum ConfigOp {
    Set(String, String),
    Delete(String),
}

/// IncrementalAlterConfigs on one topic (`broker` false) or broker, as Kafka's kafka-configs
/// does; the broker's per-resource error is returned with its message.
pub(crate) fn incremental_alter<C: ClientContext>(
    client: &Client<C>,
    broker: bool,
    name: &str,
    ops: &[ConfigOp],
    timeout: Duration,
) -> Result<(), String> {
    let c_name = CString::new(name).map_err(|e| e.to_string())?;
    let c_ops = ops
        .iter()
        .map(|op| match op {
            ConfigOp::Set(k, v) => Ok((CString::new(k.as_str())?, Some(CString::new(v.as_str())?))),
            ConfigOp::Delete(k) => Ok((CString::new(k.as_str())?, None)),
        })
        .collect::<Result<Vec<_>, std::ffi::NulError>>()
        .map_err(|e| e.to_string())?;
    let kind = if broker {
        rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER
    } else {
        rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC
    };
    // SAFETY: the resource is created and destroyed here; librdkafka copies it into its request.
    let mut resource = unsafe { rd::rd_kafka_ConfigResource_new(kind, c_name.as_ptr()) };
    for (key, value) in &c_ops {
        let (op, value) = match value {
            Some(v) => (rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, v.as_ptr()),
            None => (rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, std::ptr::null()),
        };
        // SAFETY: a live resource and NUL-terminated strings that outlive the call.
        unsafe {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(resource, key.as_ptr(), op, value);
            if !error.is_null() {
                let message = text(rd::rd_kafka_error_string(error));
                rd::rd_kafka_error_destroy(error);
                rd::rd_kafka_ConfigResource_destroy(resource);
                return Err(message);
            }
        }
    }
    let result = admin_request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
        timeout,
        // SAFETY: arguments from `admin_request` and the live resource above.
        |rk, options, queue| unsafe { rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue) },
        // SAFETY: the result belongs to the live event; strings are copied out.
        |event| unsafe {
            let altered = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_IncrementalAlterConfigs_result_resources(altered, &mut count);
            for i in 0..count {
                let r = *list.add(i);
                let code = rd::rd_kafka_ConfigResource_error(r);
                if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    let message = rd::rd_kafka_ConfigResource_error_string(r);
                    return Err(if message.is_null() { format!("{code:?}") } else { text(message) });
                }
            }
            Ok(())
        },
    );
    // SAFETY: created above, no longer used.
    unsafe { rd::rd_kafka_ConfigResource_destroy(resource) };
    result
}

/// A consumer group as DescribeConsumerGroups reports it (either protocol).
pub(crate) struct GroupDescription {
    pub(crate) state: String,
    /// The partition assignor (classic) or server assignor (KIP-848) in use.
    pub(crate) assignor: String,
    /// The coordinator as `host:port (id)`.
    pub(crate) coordinator: String,
    pub(crate) members: Vec<GroupMember>,
}

pub(crate) struct GroupMember {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) client_id: String,
    pub(crate) partitions: Vec<(String, i32)>,
}

/// Copies a C string, or returns "" for null.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that lives for the call.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() }
}

/// DescribeConsumerGroups for one group: librdkafka asks with ConsumerGroupDescribe (KIP-848
/// groups) and falls back to DescribeGroups for classic ones. `None` if the group does not exist.
pub(crate) fn describe_group<C: ClientContext>(
    client: &Client<C>,
    group: &str,
    timeout: Duration,
) -> Result<Option<GroupDescription>, String> {
    let c_group = CString::new(group).map_err(|e| e.to_string())?;
    let mut groups = [c_group.as_ptr()];
    admin_request(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        timeout,
        // SAFETY: arguments from `admin_request`; the group name outlives the call.
        |rk, options, queue| unsafe { rd::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options, queue) },
        // SAFETY: the descriptions belong to the live event; everything is copied out.
        |event| unsafe {
            let described = rd::rd_kafka_event_DescribeConsumerGroups_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_DescribeConsumerGroups_result_groups(described, &mut count);
            if count == 0 {
                return Ok(None);
            }
            let g = *list;
            let error = rd::rd_kafka_ConsumerGroupDescription_error(g);
            if !error.is_null() {
                return if rd::rd_kafka_error_code(error)
                    == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND
                {
                    Ok(None)
                } else {
                    Err(text(rd::rd_kafka_error_string(error)))
                };
            }
            let state = text(rd::rd_kafka_consumer_group_state_name(rd::rd_kafka_ConsumerGroupDescription_state(g)));
            if state == "Dead" {
                return Ok(None);
            }
            let members = (0..rd::rd_kafka_ConsumerGroupDescription_member_count(g))
                .map(|m| member(rd::rd_kafka_ConsumerGroupDescription_member(g, m)))
                .collect();
            let node = rd::rd_kafka_ConsumerGroupDescription_coordinator(g);
            let coordinator = if node.is_null() {
                String::new()
            } else {
                let host = text(rd::rd_kafka_Node_host(node));
                format!("{host}:{} ({})", rd::rd_kafka_Node_port(node), rd::rd_kafka_Node_id(node))
            };
            let assignor = text(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(g));
            Ok(Some(GroupDescription { state, assignor, coordinator, members }))
        },
    )
}

/// Copies one member description out of a DescribeConsumerGroups result.
///
/// # Safety
/// `member` points into a live result event.
unsafe fn member(member: *const rd::rd_kafka_MemberDescription_t) -> GroupMember {
    // SAFETY: as the caller promises; the partition list belongs to the same event.
    unsafe {
        let mut partitions = Vec::new();
        let assignment = rd::rd_kafka_MemberDescription_assignment(member);
        let tpl =
            if assignment.is_null() { std::ptr::null() } else { rd::rd_kafka_MemberAssignment_partitions(assignment) };
        if !tpl.is_null() {
            for e in 0..(*tpl).cnt.max(0) as usize {
                let tp = &*(*tpl).elems.add(e);
                partitions.push((text(tp.topic), tp.partition));
            }
        }
        GroupMember {
            id: text(rd::rd_kafka_MemberDescription_consumer_id(member)),
            host: text(rd::rd_kafka_MemberDescription_host(member)),
            client_id: text(rd::rd_kafka_MemberDescription_client_id(member)),
            partitions,
        }
    }
}

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

/// Topic name -> topic id (Kafka's URL-safe base64 form), through DescribeTopics.
pub(crate) fn topic_ids<C: ClientContext>(
    client: &Client<C>,
    names: &[String],
    timeout: Duration,
) -> Result<HashMap<String, String>, String> {
    let c_names =
        names.iter().map(|n| CString::new(n.as_str())).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let mut pointers: Vec<*const c_char> = c_names.iter().map(|c| c.as_ptr()).collect();
    let rk = client.native_ptr();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `rk` is a live client for the whole call; the names outlive the collection that
    // copies them; every object created here is destroyed before returning, and the strings
    // read from the result are copied before the event that owns them is destroyed.
    unsafe {
        let queue = rd::rd_kafka_queue_new(rk);
        let topics = rd::rd_kafka_TopicCollection_of_topic_names(pointers.as_mut_ptr(), pointers.len());
        let options = rd::rd_kafka_AdminOptions_new(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS);
        rd::rd_kafka_DescribeTopics(rk, topics, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms);
        let result = if event.is_null() {
            Err("no answer to DescribeTopics in time".to_string())
        } else if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Err(text(rd::rd_kafka_event_error_string(event)))
        } else {
            let described = rd::rd_kafka_event_DescribeTopics_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_DescribeTopics_result_topics(described, &mut count);
            let mut ids = HashMap::new();
            for i in 0..count {
                let topic = *list.add(i);
                let name = CStr::from_ptr(rd::rd_kafka_TopicDescription_name(topic)).to_string_lossy().into_owned();
                let id = rd::rd_kafka_TopicDescription_topic_id(topic);
                if !id.is_null() {
                    let text = rd::rd_kafka_Uuid_base64str(id);
                    if !text.is_null() {
                        // librdkafka writes standard base64; Kafka shows ids URL-safe.
                        let id = CStr::from_ptr(text).to_string_lossy().replace('+', "-").replace('/', "_");
                        ids.insert(name, id);
                    }
                }
            }
            Ok(ids)
        };
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_TopicCollection_destroy(topics);
        rd::rd_kafka_queue_destroy(queue);
        result
    }
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
    let rk = client.native_ptr();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let kind = if broker {
        rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_BROKER
    } else {
        rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC
    };
    // SAFETY: as in `topic_ids`: every object is created and destroyed here (librdkafka copies
    // the resources into its request), and result strings are copied before the event goes.
    unsafe {
        let mut resource = rd::rd_kafka_ConfigResource_new(kind, c_name.as_ptr());
        for (key, value) in &c_ops {
            let (op, value) = match value {
                Some(v) => (rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, v.as_ptr()),
                None => (rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, std::ptr::null()),
            };
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(resource, key.as_ptr(), op, value);
            if !error.is_null() {
                let message = CStr::from_ptr(rd::rd_kafka_error_string(error)).to_string_lossy().into_owned();
                rd::rd_kafka_error_destroy(error);
                rd::rd_kafka_ConfigResource_destroy(resource);
                return Err(message);
            }
        }
        let queue = rd::rd_kafka_queue_new(rk);
        let options =
            rd::rd_kafka_AdminOptions_new(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS);
        rd::rd_kafka_IncrementalAlterConfigs(rk, &mut resource, 1, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms);
        let result = if event.is_null() {
            Err("no answer to IncrementalAlterConfigs in time".to_string())
        } else if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Err(text(rd::rd_kafka_event_error_string(event)))
        } else {
            let altered = rd::rd_kafka_event_IncrementalAlterConfigs_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_IncrementalAlterConfigs_result_resources(altered, &mut count);
            let mut outcome = Ok(());
            for i in 0..count {
                let r = *list.add(i);
                if rd::rd_kafka_ConfigResource_error(r) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    let text = rd::rd_kafka_ConfigResource_error_string(r);
                    let message = if text.is_null() {
                        format!("{:?}", rd::rd_kafka_ConfigResource_error(r))
                    } else {
                        CStr::from_ptr(text).to_string_lossy().into_owned()
                    };
                    outcome = Err(message);
                }
            }
            outcome
        };
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        rd::rd_kafka_ConfigResource_destroy(resource);
        result
    }
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
    let rk = client.native_ptr();
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: as in `topic_ids`; the descriptions belong to the event and are copied out before
    // it is destroyed.
    unsafe {
        let queue = rd::rd_kafka_queue_new(rk);
        let options =
            rd::rd_kafka_AdminOptions_new(rk, rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        rd::rd_kafka_DescribeConsumerGroups(rk, groups.as_mut_ptr(), 1, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, timeout_ms);
        let result = if event.is_null() {
            Err("no answer to DescribeConsumerGroups in time".to_string())
        } else if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Err(text(rd::rd_kafka_event_error_string(event)))
        } else {
            let described = rd::rd_kafka_event_DescribeConsumerGroups_result(event);
            let mut count = 0usize;
            let list = rd::rd_kafka_DescribeConsumerGroups_result_groups(described, &mut count);
            match (0..count).map(|i| *list.add(i)).next() {
                None => Ok(None),
                Some(g) => {
                    let error = rd::rd_kafka_ConsumerGroupDescription_error(g);
                    let state =
                        text(rd::rd_kafka_consumer_group_state_name(rd::rd_kafka_ConsumerGroupDescription_state(g)));
                    if !error.is_null() {
                        let code = rd::rd_kafka_error_code(error);
                        if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND {
                            Ok(None)
                        } else {
                            Err(text(rd::rd_kafka_error_string(error)))
                        }
                    } else if state == "Dead" {
                        Ok(None)
                    } else {
                        let mut members = Vec::new();
                        for m in 0..rd::rd_kafka_ConsumerGroupDescription_member_count(g) {
                            let member = rd::rd_kafka_ConsumerGroupDescription_member(g, m);
                            let mut partitions = Vec::new();
                            let assignment = rd::rd_kafka_MemberDescription_assignment(member);
                            if !assignment.is_null() {
                                let tpl = rd::rd_kafka_MemberAssignment_partitions(assignment);
                                if !tpl.is_null() {
                                    for e in 0..(*tpl).cnt.max(0) as usize {
                                        let tp = &*(*tpl).elems.add(e);
                                        partitions.push((text(tp.topic), tp.partition));
                                    }
                                }
                            }
                            members.push(GroupMember {
                                id: text(rd::rd_kafka_MemberDescription_consumer_id(member)),
                                host: text(rd::rd_kafka_MemberDescription_host(member)),
                                client_id: text(rd::rd_kafka_MemberDescription_client_id(member)),
                                partitions,
                            });
                        }
                        let node = rd::rd_kafka_ConsumerGroupDescription_coordinator(g);
                        let coordinator = if node.is_null() {
                            String::new()
                        } else {
                            let host = text(rd::rd_kafka_Node_host(node));
                            format!("{host}:{} ({})", rd::rd_kafka_Node_port(node), rd::rd_kafka_Node_id(node))
                        };
                        let assignor = text(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(g));
                        Ok(Some(GroupDescription { state, assignor, coordinator, members }))
                    }
                }
            }
        };
        if !event.is_null() {
            rd::rd_kafka_event_destroy(event);
        }
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        result
    }
}

//! The one place the tools call librdkafka's C admin API directly, for what the `rdkafka`
//! crate's safe API lacks: topic ids, and IncrementalAlterConfigs (whose per-resource errors
//! the crate's AlterConfigs drops). Every pointer is created, used and destroyed inside one
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
            Err(CStr::from_ptr(rd::rd_kafka_event_error_string(event)).to_string_lossy().into_owned())
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
            Err(CStr::from_ptr(rd::rd_kafka_event_error_string(event)).to_string_lossy().into_owned())
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

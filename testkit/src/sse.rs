//! The wire form of a scripted [`Reply`]: Anthropic Messages and OpenAI
//! Responses, streamed (SSE events; `None` marks a hold) or whole.

use serde_json::{Value, json};

use crate::model_stub::{Block, Reply, StubShared};

fn event(kind: &str, data: Value) -> Option<String> {
    Some(format!("event: {kind}\ndata: {data}\n\n"))
}

/// `text` in two deltas (streams are chunked in real life too).
fn chunks(text: &str) -> Vec<String> {
    let mid = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
    [&text[..mid], &text[mid..]]
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| c.to_string())
        .collect()
}

fn anthropic_usage(r: &Reply, output: u64) -> Value {
    json!({"input_tokens": r.input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output})
}

fn stop_reason(r: &Reply) -> &'static str {
    if r.calls_tool() { "tool_use" } else { "end_turn" }
}

/// The content blocks of `r` in Anthropic form (tool ids from `s`).
fn anthropic_blocks(s: &StubShared, r: &Reply) -> Vec<Value> {
    r.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(json!({"type": "text", "text": t})),
            Block::Thinking(t) => Some(json!({"type": "thinking", "thinking": t, "signature": "stub-signature"})),
            Block::Tool { name, input } => {
                Some(json!({"type": "tool_use", "id": s.id("toolu"), "name": name, "input": input}))
            }
            Block::Custom { name, input } => {
                Some(json!({"type": "tool_use", "id": s.id("toolu"), "name": name, "input": {"input": input}}))
            }
            Block::Hold => None,
        })
        .collect()
}

/// The SSE events of an Anthropic streamed message.
pub(crate) fn anthropic(s: &StubShared, r: &Reply, model: &str) -> Vec<Option<String>> {
    let id = s.id("msg");
    let mut out = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": anthropic_usage(r, 1)}}),
    )];
    let mut index = 0;
    let mut blocks = anthropic_blocks(s, r).into_iter();
    for b in &r.blocks {
        if matches!(b, Block::Hold) {
            out.push(None);
            continue;
        }
        let full = blocks.next().expect("one block per non-hold item");
        let (start, deltas) = match b {
            Block::Text(t) => (
                json!({"type": "text", "text": ""}),
                chunks(t)
                    .into_iter()
                    .map(|c| json!({"type": "text_delta", "text": c}))
                    .collect(),
            ),
            Block::Thinking(t) => {
                let mut d: Vec<Value> = chunks(t)
                    .into_iter()
                    .map(|c| json!({"type": "thinking_delta", "thinking": c}))
                    .collect();
                d.push(json!({"type": "signature_delta", "signature": "stub-signature"}));
                (json!({"type": "thinking", "thinking": "", "signature": ""}), d)
            }
            _ => {
                let args = full["input"].to_string();
                (
                    json!({"type": "tool_use", "id": full["id"], "name": full["name"], "input": {}}),
                    chunks(&args)
                        .into_iter()
                        .map(|c| json!({"type": "input_json_delta", "partial_json": c}))
                        .collect(),
                )
            }
        };
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for d in deltas {
            out.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": d}),
            ));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    out.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(r), "stop_sequence": null},
            "usage": {"output_tokens": r.output_tokens}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}

/// A whole (non-streamed) Anthropic message.
pub(crate) fn anthropic_message(s: &StubShared, r: &Reply, model: &str) -> Value {
    json!({"id": s.id("msg"), "type": "message", "role": "assistant", "model": model,
        "content": anthropic_blocks(s, r), "stop_reason": stop_reason(r), "stop_sequence": null,
        "usage": anthropic_usage(r, r.output_tokens)})
}

/// The output items of `r` in OpenAI Responses form, each with the hold
/// marker before it when one precedes it.
fn openai_items(s: &StubShared, r: &Reply) -> Vec<(bool, Value)> {
    let mut out = Vec::new();
    let mut hold = false;
    for b in &r.blocks {
        let item = match b {
            Block::Hold => {
                hold = true;
                continue;
            }
            Block::Text(t) => json!({"type": "message", "id": s.id("msg"), "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": t, "annotations": []}]}),
            Block::Thinking(t) => json!({"type": "reasoning", "id": s.id("rs"),
                "summary": [{"type": "summary_text", "text": t}]}),
            Block::Tool { name, input } => json!({"type": "function_call", "id": s.id("fc"), "call_id": s.id("call"),
                "name": name, "arguments": input.to_string(), "status": "completed"}),
            Block::Custom { name, input } => json!({"type": "custom_tool_call", "id": s.id("ctc"),
                "call_id": s.id("call"), "name": name, "input": input, "status": "completed"}),
        };
        out.push((std::mem::take(&mut hold), item));
    }
    if hold {
        out.push((true, Value::Null));
    }
    out
}

fn openai_usage(r: &Reply) -> Value {
    json!({"input_tokens": r.input_tokens, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": r.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": r.input_tokens + r.output_tokens})
}

/// The SSE events of an OpenAI streamed response.
pub(crate) fn openai(s: &StubShared, r: &Reply) -> Vec<Option<String>> {
    let id = s.id("resp");
    let mut out = vec![event(
        "response.created",
        json!({"type": "response.created", "response": {"id": id, "object": "response", "status": "in_progress", "output": []}}),
    )];
    let mut done = Vec::new();
    for (index, (hold, item)) in openai_items(s, r).into_iter().enumerate() {
        if item.is_null() {
            out.push(None);
            continue;
        }
        let item_id = item["id"].clone();
        let mut added = item.clone();
        match item["type"].as_str() {
            Some("message") => {
                added["content"] = json!([]);
                added["status"] = json!("in_progress");
            }
            Some("reasoning") => added["summary"] = json!([]),
            _ => {}
        }
        out.push(event(
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": index, "item": added}),
        ));
        let text = item["content"][0]["text"]
            .as_str()
            .or(item["summary"][0]["text"].as_str());
        let pieces = text.map(chunks).unwrap_or_default();
        let mut pieces = pieces.into_iter();
        if let Some(first) = pieces.next() {
            out.push(delta(&item, index, &item_id, &first));
        }
        if hold {
            out.push(None);
        }
        for p in pieces {
            out.push(delta(&item, index, &item_id, &p));
        }
        out.push(event(
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": index, "item": item}),
        ));
        done.push(item);
    }
    out.push(event(
        "response.completed",
        json!({"type": "response.completed", "response": {"id": id, "object": "response", "status": "completed",
            "output": done, "usage": openai_usage(r)}}),
    ));
    out
}

fn delta(item: &Value, index: usize, item_id: &Value, text: &str) -> Option<String> {
    if item["type"] == "reasoning" {
        event(
            "response.reasoning_summary_text.delta",
            json!({"type": "response.reasoning_summary_text.delta", "item_id": item_id, "output_index": index,
                "summary_index": 0, "delta": text}),
        )
    } else {
        event(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": index,
                "content_index": 0, "delta": text}),
        )
    }
}

/// A whole (non-streamed) OpenAI response.
pub(crate) fn openai_response(s: &StubShared, r: &Reply) -> Value {
    let output: Vec<Value> = openai_items(s, r)
        .into_iter()
        .map(|(_, i)| i)
        .filter(|i| !i.is_null())
        .collect();
    json!({"id": s.id("resp"), "object": "response", "status": "completed", "output": output, "usage": openai_usage(r)})
}

/// `data:`-only SSE (Gemini, OpenAI chat completions).
fn data(v: Value) -> Option<String> {
    Some(format!("data: {v}\n\n"))
}

/// Gemini `streamGenerateContent?alt=sse`: one `candidates` chunk per
/// piece (text deltas, `thought` parts, `functionCall`s), the last with
/// `finishReason` and `usageMetadata`.
pub(crate) fn gemini(r: &Reply) -> Vec<Option<String>> {
    let chunk = |parts: Value| json!({"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}], "modelVersion": "stub"});
    let mut out = Vec::new();
    for b in &r.blocks {
        match b {
            Block::Text(t) => out.extend(chunks(t).into_iter().map(|c| data(chunk(json!([{"text": c}]))))),
            Block::Thinking(t) => out.push(data(chunk(json!([{"text": t, "thought": true}])))),
            Block::Tool { name, input } => {
                out.push(data(chunk(json!([{"functionCall": {"name": name, "args": input}}]))))
            }
            Block::Custom { name, input } => out.push(data(chunk(
                json!([{"functionCall": {"name": name, "args": {"input": input}}}]),
            ))),
            Block::Hold => out.push(None),
        }
    }
    out.push(data(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "index": 0, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": r.input_tokens, "candidatesTokenCount": r.output_tokens,
                          "totalTokenCount": r.input_tokens + r.output_tokens},
        "modelVersion": "stub"
    })));
    out
}

/// OpenAI chat completions streamed: `choices[0].delta` chunks (content,
/// `reasoning_content`, `tool_calls`), a `finish_reason`, a usage chunk,
/// then `[DONE]`.
pub(crate) fn chat(s: &StubShared, r: &Reply, model: &str) -> Vec<Option<String>> {
    let id = s.id("chatcmpl");
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut out = vec![data(chunk(json!({"role": "assistant", "content": ""}), Value::Null))];
    let mut calls = 0;
    for b in &r.blocks {
        match b {
            Block::Text(t) => out.extend(
                chunks(t)
                    .into_iter()
                    .map(|c| data(chunk(json!({"content": c}), Value::Null))),
            ),
            Block::Thinking(t) => out.push(data(chunk(json!({"reasoning_content": t}), Value::Null))),
            Block::Tool { name, input } => {
                let call = json!({"index": calls, "id": s.id("call"), "type": "function",
                                  "function": {"name": name, "arguments": input.to_string()}});
                calls += 1;
                out.push(data(chunk(json!({"tool_calls": [call]}), Value::Null)));
            }
            Block::Custom { name, input } => {
                let call = json!({"index": calls, "id": s.id("call"), "type": "function",
                                  "function": {"name": name, "arguments": json!({"input": input}).to_string()}});
                calls += 1;
                out.push(data(chunk(json!({"tool_calls": [call]}), Value::Null)));
            }
            Block::Hold => out.push(None),
        }
    }
    let finish = if r.calls_tool() { "tool_calls" } else { "stop" };
    out.push(data(chunk(json!({}), json!(finish))));
    out.push(data(
        json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model, "choices": [],
        "usage": {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens,
                  "total_tokens": r.input_tokens + r.output_tokens}}),
    ));
    out.push(Some("data: [DONE]\n\n".into()));
    out
}

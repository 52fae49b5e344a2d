"""The chat templates of the tiny model's variants (``tiny_model()``).

Plain ChatML; ChatML that describes tools and writes Hermes ``<tool_call>``
blocks (``tools=True``); and the same with ``<think>`` opened in the
generation prompt (``thinking=True``).
"""

from __future__ import annotations

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# ChatML that also describes tools, writes tool calls as
# <tool_call>{"name": ..., "arguments": ...}</tool_call> and answers from tools
# as <tool_response>: the Hermes form, which llama-server's template analysis
# recognises, so that replies come back with parsed tool_calls.
_TOOLS_HEADER = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call these functions:\n<tools>\n"
    "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools>\n"
    "To call one, answer with:\n<tool_call>\n"
    '{"name": <function name>, "arguments": <arguments object>}\n</tool_call><|im_end|>\n'
    "{% elif messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{% endif %}"
)
_TOOLS_MESSAGES = (
    "{% for m in messages %}"
    "{% if m.role == 'system' and loop.first %}"
    "{% elif m.role == 'assistant' %}<|im_start|>assistant\n"
    "REASONING"
    "{{ m.content or '' }}"
    "{% for call in m.tool_calls or [] %}"
    "{% if call.function %}{% set f = call.function %}{% else %}{% set f = call %}{% endif %}"
    "{% if m.content or not loop.first %}\n{% endif %}"
    '<tool_call>\n{"name": "{{ f.name }}", "arguments": '
    "{% if f.arguments is string %}{{ f.arguments }}{% else %}{{ f.arguments | tojson }}"
    "{% endif %}}\n</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% elif m.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
)
# Thinking opens in the generation prompt, as in recent thinking models;
# enable_thinking=False closes it at once.
_THINKING_PROMPT = (
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% else %}<think>\n{% endif %}"
    "{% endif %}"
)
_PLAIN_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

_REASONING = (
    "{% if m.reasoning_content %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}"
)


def chat_template(tools: bool, thinking: bool) -> str:
    """The template of a variant: plain ChatML unless it has tools or thinking."""
    if not tools and not thinking:
        return _CHAT_TEMPLATE
    # The tools header without tools is ChatML's system message. Reasoning in
    # the history is rendered only by the thinking template: llama-server
    # reads a template's reasoning tags from how it renders them.
    messages = _TOOLS_MESSAGES.replace("REASONING", _REASONING if thinking else "")
    return _TOOLS_HEADER + messages + (_THINKING_PROMPT if thinking else _PLAIN_PROMPT)

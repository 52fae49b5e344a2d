"""What vLLM and mlx servers say, read by the pure parsers.

Neither server can run here (vLLM needs a GPU, mlx Apple Silicon), so their
answers, as their sources write them, are replayed through the parsers that
``info()`` and every request use; llama-server's are tested on the real
server in test_model_info.py.
"""

from __future__ import annotations

from ramalama_sdk import APIError, ContextLengthError
from ramalama_sdk.endpoints.info import served_details
from ramalama_sdk.http.protocol import api_error

VLLM_MODELS = (
    b'{"object":"list","data":[{"id":"ibm/granite","object":"model","created":1,'
    b'"owned_by":"vllm","root":"ibm/granite","parent":null,"max_model_len":8192,'
    b'"permission":[]}]}'
)
MLX_MODELS = b'{"object":"list","data":[{"id":"mlx-community/qwen","object":"model","created":1}]}'
VLLM_TOO_LONG = (
    b'{"object":"error","message":"This model\'s maximum context length is 8192 tokens. '
    b"However, you requested 9000 tokens (8990 in the messages, 10 in the completion). "
    b'Please reduce the length of the messages or completion.","type":"BadRequestError",'
    b'"param":null,"code":400}'
)


def test_vllm_reports_its_context_only() -> None:
    details = served_details("x", VLLM_MODELS, None, None)
    assert details.name == "ibm/granite" and details.runtime == "vllm"
    assert details.context_size == 8192
    for unknown in ("training_context", "parameters", "size", "vision", "supports_tools"):
        assert getattr(details, unknown) is None, unknown
    assert details.chat_template is None and details.has_chat_template is None
    assert details.slots is None and details.build is None


def test_mlx_reports_the_name_only() -> None:
    details = served_details("x", MLX_MODELS, None, "mlx")
    assert details.name == "mlx-community/qwen" and details.runtime == "mlx"
    assert details.context_size is None and details.training_context is None


def test_vllm_context_error_gives_both_numbers() -> None:
    error = api_error(400, VLLM_TOO_LONG)
    assert isinstance(error, ContextLengthError) and isinstance(error, APIError)
    assert error.prompt_tokens == 9000 and error.limit == 8192 and error.status == 400


def test_other_errors_stay_plain() -> None:
    error = api_error(
        400, b'{"error":{"message":"bad temperature","type":"invalid_request_error"}}'
    )
    assert type(error) is APIError and error.status == 400

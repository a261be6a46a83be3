"""Parameters of the `validate` stage (batch): OpenAI's chat fine-tuning line format, per example."""

from typing import Literal

from pydantic import Field

from schemas.base import StrictModel


class ValidateParams(StrictModel):
    name: Literal["validate"]
    special_tokens: Literal["drop", "strip"] = Field(
        "drop",
        description="text holding a tokenizer special token such as <|endoftext|> or <|im_start|>: drop the "
                    "example (default: such text is usually a template leak) or strip the tokens from message "
                    "text and keep it (counted). Tokens outside message text (tool arguments, tool schemas) "
                    "always drop the example.",
    )
    missing_user_message: Literal["ignore", "warn", "drop"] = Field(
        "warn",
        description="an example with no user message: OpenAI accepts it, so by default it is kept and "
                    "flagged 'validate:no_user_message'; 'drop' rejects it as missing_user",
    )
    require_trainable_assistant: bool = Field(
        True,
        description="drop examples whose assistant messages all have weight 0 (nothing to learn, still billed)",
    )
    tool_arguments_json: bool = Field(
        True,
        description="tool_calls[].function.arguments and function_call.arguments must be a JSON object "
                    "(OpenAI only requires a string; training on broken JSON teaches broken calls)",
    )
    samples_per_reason: int = Field(5, ge=0, le=20, description="sample details kept per reason in facts")

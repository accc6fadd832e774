"""Lambda entry point: ``points_api.handler.lambda_handler`` (API Gateway REST proxy events)."""

from points_api.app import handle as lambda_handler

__all__ = ["lambda_handler"]

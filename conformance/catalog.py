"""The check registry, as data: every check the suite can report, with its stable id.

Ids never change meaning once published; a retired check keeps its id reserved.
"""

from __future__ import annotations

from conformance.model import CheckSpec, Target

CHAT_MODES = ("chat", "agent-chat", "advanced-chat")
GENERATION_OPS = ("sendChatMessage", "createCompletionMessage", "executeWorkflow")

C = CheckSpec
CHECKS: tuple[CheckSpec, ...] = (
    # (a) contract fuzzing through Schemathesis, per operation the mode serves
    C(
        "contract.no-server-error",
        "contract",
        "No generated request, valid or invalid, gets a 5xx response.",
        Target.OPERATIONS,
    ),
    C(
        "contract.status-documented",
        "contract",
        "Every status code returned is declared for the operation.",
        Target.OPERATIONS,
    ),
    C(
        "contract.content-type",
        "contract",
        "Every response's Content-Type is one the operation declares for that status.",
        Target.OPERATIONS,
    ),
    C(
        "contract.response-schema",
        "contract",
        "Response bodies (JSON, and each SSE envelope) match the declared schema.",
        Target.OPERATIONS,
    ),
    C(
        "contract.negative-rejected",
        "contract",
        "Requests that violate the request schema are rejected with a 4xx.",
        Target.OPERATIONS,
    ),
    C(
        "contract.error-envelope",
        "contract",
        "Every 4xx/5xx body is JSON {code, message, status} with status equal to the HTTP status.",
        Target.OPERATIONS,
    ),
    C(
        "contract.sse-payload",
        "contract",
        "The JSON inside each fuzzed SSE event matches the mode's `x-sse-events` union.",
        Target.STREAMING,
    ),
    # (d) authentication, per operation
    C(
        "auth.required",
        "auth",
        "A missing, malformed or unknown key gets 401 with the error envelope.",
        Target.OPERATIONS,
    ),
    # (b) streams, per streaming operation
    C(
        "sse.content-type",
        "sse",
        "A stream answers 200 with Content-Type text/event-stream (FAIL: clients pick their parser by it).",
        Target.STREAMING,
    ),
    C(
        "sse.cache-control",
        "sse",
        "A stream sends Cache-Control: no-cache (WARN: only proxies and caches are affected).",
        Target.STREAMING,
    ),
    C(
        "sse.accel-buffering",
        "sse",
        "A stream sends X-Accel-Buffering: no (WARN: only an nginx in between is affected).",
        Target.STREAMING,
    ),
    C(
        "sse.framing",
        "sse",
        "Each event is one `data: <JSON object>` frame carrying `event`; no id:/retry: lines.",
        Target.STREAMING,
    ),
    C(
        "sse.keepalive",
        "sse",
        "Keep-alives are bare `event: ping` frames: never a data event, never a comment line.",
        Target.STREAMING,
    ),
    C(
        "sse.event-schema",
        "sse",
        "Every event validates against its events.schema.json definition and the mode's stream union.",
        Target.STREAMING,
    ),
    C(
        "sse.grammar",
        "sse",
        "The event sequence follows the mode's grammar: opening event, order, exactly one terminal event.",
        Target.STREAMING,
    ),
    C(
        "sse.terminates",
        "sse",
        "The stream ends before the deadline and closes right after its terminal event.",
        Target.STREAMING,
    ),
    # (c) stateful scenarios
    C(
        "scenario.continuity",
        "scenario",
        "A second turn sent with conversation_id stays in that conversation; history holds both turns.",
        Target.FIXED,
        ("sendChatMessage",),
    ),
    C(
        "pagination.messages",
        "pagination",
        "Paging /messages by first_id: no duplicates or gaps, chronological pages, has_more false only at "
        "the end.",
        Target.FIXED,
        ("getConversationHistory",),
    ),
    C(
        "pagination.conversations",
        "pagination",
        "Paging /conversations by last_id: no duplicates or gaps, stable order, has_more false only at the "
        "end.",
        Target.FIXED,
        ("getConversationsList",),
    ),
    C(
        "scenario.rename-delete",
        "scenario",
        "Rename returns and persists the new name; after delete the conversation answers 404.",
        Target.FIXED,
        ("renameConversation", "deleteConversation"),
    ),
    C(
        "scenario.feedback",
        "scenario",
        "Feedback on a message is accepted and then listed by /app/feedbacks with its rating.",
        Target.FIXED,
        ("postChatMessageFeedback", "getChatAppFeedbacks"),
    ),
    C(
        "scenario.files",
        "scenario",
        "An uploaded file can be sent in a message and is then served by its preview URL.",
        Target.FIXED,
        ("uploadChatFile", "previewChatFile"),
        requires=("file_upload",),
    ),
    C(
        "scenario.stop",
        "scenario",
        "Stop mid-stream: the terminal event arrives promptly, the stream closes, the partial answer is "
        "persisted.",
        Target.FIXED,
        ("stopChatMessageGeneration", "stopGenerate", "stopWorkflowTaskGeneration"),
    ),
    C(
        "scenario.workflow-run",
        "scenario",
        "A workflow run is readable by id and listed by /workflows/logs.",
        Target.FIXED,
        ("getWorkflowRunDetail", "getWorkflowLogs"),
        modes=("workflow",),
    ),
    C(
        "scenario.conversation-variables",
        "scenario",
        "Conversation variables list, update with a well-typed value, and reject a mistyped one with 400.",
        Target.FIXED,
        ("getConversationVariables", "updateChatConversationVariable"),
        requires=("conversation_variables",),
    ),
    # (d) isolation
    C(
        "isolation.user",
        "isolation",
        "Another user's conversation and messages are 404 and never listed.",
        Target.FIXED,
        ("getConversationHistory", "renameConversation", "getConversationsList"),
    ),
    C(
        "isolation.app",
        "isolation",
        "Another app's key reaches none of this app's conversations or messages.",
        Target.FIXED,
        ("getConversationHistory", "postChatMessageFeedback"),
    ),
    # (e) trace ids
    C(
        "trace.header",
        "trace",
        "A trace id in the X-Trace-Id header is accepted.",
        Target.FIXED,
        GENERATION_OPS,
    ),
    C(
        "trace.query",
        "trace",
        "A trace id in the trace_id query parameter is accepted.",
        Target.FIXED,
        GENERATION_OPS,
    ),
    C(
        "trace.body",
        "trace",
        "A trace id in the JSON body's trace_id field is accepted.",
        Target.FIXED,
        GENERATION_OPS,
    ),
)

BY_ID: dict[str, CheckSpec] = {c.id: c for c in CHECKS}

# Operations that exist only when the server declares a capability (config.schema.json `capabilities`).
OPERATION_CAPABILITIES: dict[str, str] = {
    "uploadChatFile": "file_upload",
    "previewChatFile": "file_upload",
    "audioToText": "speech_to_text",
    "textToAudioChat": "text_to_speech",
    "getSuggestedQuestions": "suggested_questions",
    "createAnnotation": "annotations",
    "getAnnotationList": "annotations",
    "updateAnnotation": "annotations",
    "deleteAnnotation": "annotations",
    "initialAnnotationReplySettings": "annotations",
    "getInitialAnnotationReplySettingsStatus": "annotations",
    "getChatflowHumanInputForm": "human_input",
    "submitChatflowHumanInputForm": "human_input",
    "getConversationVariables": "conversation_variables",
    "updateChatConversationVariable": "conversation_variables",
    "getEndUserChat": "end_users",
}

CAPABILITIES = (
    "file_upload",
    "speech_to_text",
    "text_to_speech",
    "suggested_questions",
    "annotations",
    "human_input",
    "conversation_variables",
    "end_users",
)

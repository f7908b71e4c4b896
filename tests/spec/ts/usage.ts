// Uses a few of the types openapi-typescript generates from spec/openapi.yaml; `tsc --strict`
// must accept it.  If an operation's shape changes incompatibly, this stops compiling.
import type { operations, paths } from "./schema";

type ChatRequest = NonNullable<paths["/chat-messages"]["post"]["requestBody"]>["content"]["application/json"];
type ChatBlocking = paths["/chat-messages"]["post"]["responses"][200]["content"]["application/json"];
type CompletionRequest = NonNullable<
  operations["createCompletionMessage"]["requestBody"]
>["content"]["application/json"];
type WorkflowRequest = NonNullable<operations["executeWorkflow"]["requestBody"]>["content"]["application/json"];
type ConversationsQuery = NonNullable<operations["getConversationsList"]["parameters"]["query"]>;

export const chat: ChatRequest = {
  query: "What is the weather like?",
  inputs: { city: "Lisbon" },
  user: "abc-123",
  response_mode: "blocking",
};

// `inputs` carries the app's variables, so the generated type must accept arbitrary keys.
export const completion: CompletionRequest = { inputs: { query: "Hello" }, user: "abc-123", response_mode: "streaming" };

export const workflow: WorkflowRequest = { inputs: {}, user: "abc-123", response_mode: "blocking" };

export const listQuery: ConversationsQuery = { user: "abc-123", limit: 20 };

export function answerOf(reply: ChatBlocking): string {
  const answer: string = reply.answer ?? "";
  const conversation: string = reply.conversation_id ?? "";
  return `${conversation}: ${answer}`;
}

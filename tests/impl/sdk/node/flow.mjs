// Drives the official Node SDK (npm dify-client, unmodified) against a live server.
// Usage: node flow.mjs <base_url> <chat_key> <completion_key>; prints one JSON summary line.
import { ChatClient, CompletionClient } from "dify-client";
import { readStream } from "./sse.mjs";

const [baseUrl, chatKey, completionKey] = process.argv.slice(2);
const user = "sdk-node";

const chat = new ChatClient(chatKey, baseUrl);
const out = {};
const first = (await chat.createChatMessage({ name: "Node" }, "Hello from Node", user)).data;
out.blockingAnswer = first.answer;
const cid = first.conversation_id;
const streamed = await readStream(await chat.createChatMessage({}, "stream [[tokens:25]]", user, true, cid));
out.streamEvents = streamed.map((e) => e.event);
out.streamConversation = streamed[0].conversation_id === cid;
const history = (await chat.getConversationMessages(user, cid, null, 10)).data;
out.historyQueries = history.data.map((m) => m.query);
const convs = (await chat.getConversations(user, null, 5)).data;
out.firstConversation = convs.data[0].id === cid;
out.renamed = (await chat.renameConversation(cid, "From Node", user, false)).data.name;
out.feedback = (await chat.messageFeedback(first.id, "dislike", user)).data;
const form = new FormData();
form.append("user", user);
form.append("file", new Blob([Buffer.from("node file")], { type: "text/plain" }), "node.txt");
const uploaded = await chat.fileUpload(form);
out.uploadStatus = uploaded.status;
out.uploadName = uploaded.data.name;
out.stop = (await chat.sendRequest("POST", `/chat-messages/${first.task_id}/stop`, { user })).data;
const deleted = await chat.deleteConversation(cid, user);
out.deleteStatus = deleted.status;

const completion = new CompletionClient(completionKey, baseUrl);
const done = (await completion.createCompletionMessage({ query: "otters" }, user)).data;
out.completionAnswer = done.answer;
const cstream = await readStream(await completion.createCompletionMessage({ query: "otters" }, user, true));
out.completionStream = cstream.map((e) => e.event);
console.log(JSON.stringify(out));

// Reads an SSE response the SDK returned (axios stream) into the list of its data events.
export function readStream(response) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const events = [];
    response.data.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (frame.startsWith("data: ")) events.push(JSON.parse(frame.slice(6)));
      }
    });
    response.data.on("end", () => resolve(events));
    response.data.on("error", reject);
  });
}

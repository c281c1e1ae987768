#include "tools/sentinelctl/agent_client.h"

#include "proto/wire/blocking_socket.h"

namespace sentinel::tools {

AgentReply ask_agent(const std::string& socket_path, const v1::Envelope& request,
                     const std::function<void(const v1::Progress&)>& on_progress) {
  AgentReply reply;
  wire::UniqueFd fd = wire::connect_unix(socket_path, &reply.error);
  if (!fd) return reply;
  // A refusal (permission, shutting down) may come before the request is even written: read it anyway.
  const bool sent = wire::send_frame(fd.get(), request, std::chrono::seconds(10), &reply.error);
  const std::string send_error = reply.error;
  wire::FrameDecoder decoder;
  for (;;) {
    v1::Envelope envelope;
    // A deep scan sends progress after every replica; a replica of 40 GiB with little data is seconds, a full
    // one can be many minutes at a read cap, so the wait between messages is generous.
    const auto status = wire::receive_frame(fd.get(), decoder, &envelope, std::chrono::hours(2), &reply.error);
    if (status != wire::ReceiveStatus::kFrame) {
      reply.error = "no reply from the agent at " + socket_path + ": " + (sent ? reply.error : send_error);
      return reply;
    }
    if (envelope.has_progress()) {
      if (on_progress) on_progress(envelope.progress());
      continue;
    }
    reply.final = std::move(envelope);
    reply.error.clear();
    return reply;
  }
}

}  // namespace sentinel::tools

// The native transport: the same gRPC stream answered by grpc's C++ callback API.
//
//     build/native_transport --listen 127.0.0.1:50091      (built by `make native-baseline`)
//
// It serves sluice.v1.Ingest/Stream on raw request bytes and answers each batch at once with
// an OK Ack for its seq and reading count, read from the envelope's top-level fields (the
// readings themselves are not parsed). No Python, no Kafka: it is what one gRPC message in
// and one Ack out cost in grpc's C++ core, the transport a native front end would stand on.
// Other methods answer UNIMPLEMENTED. It stops on SIGTERM or SIGINT.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr int kMaxMessageBytes = 4 * 1024 * 1024;
constexpr uint64_t kAckStatusOk = 1;

// Reads a varint at `pos`; false when `data` ends first or it runs past 10 bytes.
bool ReadVarint(const std::string& data, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 70 && *pos < data.size(); shift += 7) {
    uint8_t byte = static_cast<uint8_t>(data[(*pos)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// The seq (field 1) and the number of readings (field 3) of a ReadingBatch; false when the
// top level is not well formed.
bool Envelope(const std::string& data, uint64_t* seq, uint64_t* readings) {
  size_t pos = 0;
  *seq = 0;
  *readings = 0;
  while (pos < data.size()) {
    uint64_t tag, value;
    if (!ReadVarint(data, &pos, &tag)) return false;
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(data, &pos, &value)) return false;
        if (tag >> 3 == 1) *seq = value;
        break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2:
        if (!ReadVarint(data, &pos, &value) || value > data.size() - pos) return false;
        pos += value;
        if (tag >> 3 == 3) ++*readings;
        break;
      default: return false;
    }
  }
  return pos == data.size();
}

void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// An Ack: seq (1), status (2) and accepted (3), all varints.
std::string EncodeAck(uint64_t seq, uint64_t accepted) {
  std::string out;
  out.push_back(0x08);
  AppendVarint(&out, seq);
  out.push_back(0x10);
  AppendVarint(&out, kAckStatusOk);
  out.push_back(0x18);
  AppendVarint(&out, accepted);
  return out;
}

// One Ingest.Stream call: reads keep going while Acks queue behind the write in flight.
class Stream : public grpc::ServerGenericBidiReactor {
 public:
  Stream() { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mutex_);
      reads_done_ = true;
      FinishIfIdle();
      return;
    }
    std::vector<grpc::Slice> slices;
    request_.Dump(&slices);
    std::string raw;
    for (const grpc::Slice& slice : slices) {
      raw.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    uint64_t seq, readings;
    if (!Envelope(raw, &seq, &readings)) {
      std::lock_guard<std::mutex> lock(mutex_);
      reads_done_ = true;
      status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not a ReadingBatch");
      FinishIfIdle();
      return;
    }
    grpc::Slice ack(EncodeAck(seq, readings));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      acks_.emplace_back(&ack, 1);
      if (!writing_) {
        writing_ = true;
        StartWrite(&acks_.front());
      }
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mutex_);
    acks_.pop_front();
    if (ok && !acks_.empty()) {
      StartWrite(&acks_.front());
      return;
    }
    writing_ = false;
    FinishIfIdle();
  }

  void OnDone() override { delete this; }

 private:
  // Called with mutex_ held.
  void FinishIfIdle() {
    if (reads_done_ && !writing_ && !finished_) {
      finished_ = true;
      Finish(status_);
    }
  }

  grpc::ByteBuffer request_;
  std::mutex mutex_;
  std::deque<grpc::ByteBuffer> acks_;
  bool writing_ = false;
  bool reads_done_ = false;
  bool finished_ = false;
  grpc::Status status_ = grpc::Status::OK;
};

class Ingest : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    if (context->method() == "/sluice.v1.Ingest/Stream") return new Stream();
    return grpc::CallbackGenericService::CreateReactor(context);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:50091";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--listen") listen = argv[i + 1];
  }
  // Blocked before grpc starts its threads, so that only sigwait below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Ingest service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.RegisterCallbackGenericService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return 1;
  int signal_number;
  sigwait(&stop_signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

// A read-only memory map of a whole file; model weights point straight into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bitnet {

class MappedFile {
 public:
  // Throws Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Copies n bytes that the map shows at `at` (inside data()..data()+size())
  // with pread: the bytes come from the page cache without becoming resident
  // pages of this process, for tables read a row at a time (embeddings).
  void ReadAt(const void* at, size_t n, void* dst) const;

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// The whole contents of a small regular file (config.json, tokenizer.json).
// Throws Error naming the path when it is missing, unreadable, or not a
// regular file: a FIFO would block the read forever and a directory has no
// contents, so both are refused before any read.
std::string ReadRegularFile(const std::string& path);

// Throws Error naming the path unless it is absent or a regular file (or a
// symlink to one). Writers call this before they start, so that an output
// like -o /dev/full or -o some_dir fails at once and is never replaced.
void CheckOutputPath(const std::string& path);

// Writes a file atomically: data goes to "<path>.tmp.<pid>" beside it and is
// renamed over path only once complete, so a failed write never leaves a
// partial output. Refuses (CheckOutputPath) a path that exists and is not a
// regular file, both at construction and again just before the rename.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();  // removes the temporary file unless Commit() succeeded
  void Write(const void* data, size_t n);
  void WriteZeros(size_t n);
  uint64_t offset() const { return offset_; }
  void Commit();

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  bool committed_ = false;
};

// AtomicFileWriter for a whole file held in memory (JSON side files).
void WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace bitnet

#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace bitnet {

namespace {

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

// Opens path for reading, refusing anything but a regular file. O_NONBLOCK
// keeps open() itself from waiting for a writer when path is a FIFO (the
// stat before it can race with a rename); it has no effect on regular files.
int OpenRegularForRead(const std::string& path, struct stat* st) {
  struct stat pre {};
  if (::stat(path.c_str(), &pre) != 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(pre.st_mode)) throw Error(path + ": is " + KindOf(pre.st_mode) + ", expected a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    const mode_t mode = st->st_mode;
    ::close(fd);
    throw Error(path + ": is " + KindOf(mode) + ", expected a regular file");
  }
  return fd;
}

}  // namespace

std::string ReadRegularFile(const std::string& path) {
  struct stat st {};
  const int fd = OpenRegularForRead(path, &st);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(path + ": read failed: " + std::strerror(err));
    }
    if (got == 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  ::close(fd);
  return out;
}

void CheckOutputPath(const std::string& path) {
  struct stat st {};
  // stat follows a symlink: a link to a device is refused like the device.
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw Error(path + ": cannot use as output: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw Error(path + ": output exists and is " + KindOf(st.st_mode) +
                "; refusing to replace it (give a regular file path)");
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  struct stat st {};
  fd_ = OpenRegularForRead(path, &st);
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) {
      ::close(fd_);
      throw Error(path + ": cannot mmap: " + std::strerror(errno));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  ::close(fd_);
}

void MappedFile::ReadAt(const void* at, size_t n, void* dst) const {
  const auto* p = static_cast<const uint8_t*>(at);
  Check(p >= data_ && n <= size_ && static_cast<size_t>(p - data_) <= size_ - n, path_, "read outside the file");
  auto* out = static_cast<uint8_t*>(dst);
  off_t offset = p - data_;
  while (n > 0) {
    const ssize_t got = ::pread(fd_, out, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw Error(path_ + ": read failed: " + (got < 0 ? std::strerror(errno) : "file shrank"));
    out += got;
    offset += got;
    n -= static_cast<size_t>(got);
  }
}

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), tmp_path_(path + ".tmp." + std::to_string(::getpid())) {
  CheckOutputPath(path);
  // A stale temporary of an earlier run with the same pid is a regular file we
  // made; anything else there (a planted symlink) makes O_EXCL fail.
  struct stat st {};
  if (::lstat(tmp_path_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(tmp_path_.c_str());
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path + ": cannot create output: " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFileWriter::Write(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path_ + ": write failed: " + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset_ += static_cast<uint64_t>(w);
  }
}

void AtomicFileWriter::WriteZeros(size_t n) {
  static const std::vector<uint8_t> zeros(4096, 0);
  while (n > 0) {
    size_t k = n < zeros.size() ? n : zeros.size();
    Write(zeros.data(), k);
    n -= k;
  }
}

void AtomicFileWriter::Commit() {
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    fd_ = -1;
    throw Error(path_ + ": cannot flush output: " + std::strerror(errno));
  }
  fd_ = -1;
  CheckOutputPath(path_);  // the target may have been replaced while we wrote
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(path_ + ": cannot rename temporary file: " + std::strerror(errno));
  committed_ = true;
}

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  AtomicFileWriter out(path);
  out.Write(contents.data(), contents.size());
  out.Commit();
}

}  // namespace bitnet

# frozen_string_literal: true

require_relative "test_helper"

class FramingTest < Minitest::Test
  FRAMES = ['{"a":1}', '{"text":"h\u00e9llo \u2603"}', "[1,2,3]", '{"b":"x\\ny"}'].freeze

  def test_every_split_of_a_stream_of_many_frames_yields_the_same_frames
    stream = FRAMES.map { |f| "#{f}\n" }.join.b
    (0..stream.bytesize).each do |split|
      decoder = Keel::Framing::LineDecoder.new
      out = decoder.feed(stream.byteslice(0, split)) + decoder.feed(stream.byteslice(split..))
      assert_equal FRAMES.map(&:b), out, "split at #{split}"
    end
  end

  def test_byte_by_byte_feeding_with_crlf_and_blank_lines
    decoder = Keel::Framing::LineDecoder.new
    out = "{\"a\":1}\r\n\n{\"b\":2}\n".b.each_char.flat_map { |byte| decoder.feed(byte) }
    assert_equal ['{"a":1}', '{"b":2}'], out
  end

  def test_a_line_over_the_limit_is_reported_once_and_its_tail_discarded
    decoder = Keel::Framing::LineDecoder.new(8)
    out = decoder.feed("123456789") + decoder.feed("0123456789") + decoder.feed("abc\n{\"x\":1}\n")
    assert_equal 2, out.size
    assert_kind_of Keel::FrameTooLarge, out[0]
    assert_equal '{"x":1}', out[1]
  end

  def test_a_line_of_exactly_the_limit_is_accepted_and_one_more_byte_refused
    decoder = Keel::Framing::LineDecoder.new(8)
    assert_equal ["12345678"], decoder.feed("12345678\r\n")
    out = decoder.feed("123456789\n")
    assert_kind_of Keel::FrameTooLarge, out.first
    assert_equal 9, out.first.size
  end

  def test_finish_returns_an_unterminated_last_line
    decoder = Keel::Framing::LineDecoder.new
    assert_empty decoder.feed('{"a":1}')
    assert_equal ['{"a":1}'], decoder.finish
  end

  def test_encode_never_emits_a_raw_newline_and_refuses_nan
    line = Keel::Framing.encode({ "text" => "a\nb\r\u2028" })
    assert_equal 1, line.count("\n")
    assert line.end_with?("\n")
    assert_equal({ "text" => "a\nb\r\u2028" }, JSON.parse(line))
    assert_raises(JSON::GeneratorError) { Keel::Framing.encode({ "x" => Float::NAN }) }
  end

  def test_reader_reports_invalid_utf8_and_goes_on
    reader_io, writer_io = UNIXSocket.pair
    writer_io.write("{\"x\":\"\xFF\"}\n{\"ok\":true}\n".b)
    writer_io.close
    reader = Keel::Framing::Reader.new(reader_io)
    assert_raises(Keel::InvalidFrame) { reader.read }
    assert_equal '{"ok":true}', reader.read
    assert_nil reader.read
  end

  def test_writer_coalesces_and_flushes_on_close
    reader_io, writer_io = UNIXSocket.pair
    writer = Keel::Framing::Writer.new(writer_io)
    100.times { |i| writer.write({ "i" => i }) }
    writer.close
    lines = reader_io.read.lines
    assert_equal(100.times.map { |i| { "i" => i } }, lines.map { |l| JSON.parse(l) })
  end

  def test_writer_refuses_a_message_over_the_peers_limit
    _reader_io, writer_io = UNIXSocket.pair
    writer = Keel::Framing::Writer.new(writer_io, max_frame_bytes: 10)
    assert_raises(Keel::FrameTooLarge) { writer.write({ "text" => "x" * 20 }) }
    writer.close
  end
end

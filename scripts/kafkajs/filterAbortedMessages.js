// mplp: replaces kafkajs 2.2.4's src/consumer/filterAbortedMessages.js (scripts/kafkajs/patch.js
// installs it at npm install). The original activated at most one aborted transaction per message
// and assumed the broker's list sorted, so a fetch starting inside two or more aborted
// transactions of interleaved producers (ingest's per-partition transactional producers all write
// to every validated partition) handed out records of an aborted transaction to read_committed
// consumers. This follows the Java consumer (Fetcher's consumeAbortedTransactionsUpTo): sort by
// first offset, activate every aborted transaction that began at or before the record.
const ABORTED_MESSAGE_KEY = Buffer.from([0, 0, 0, 0])

const isAbortMarker = ({ key }) => {
  if (!key) return false
  return Buffer.from(key).equals(ABORTED_MESSAGE_KEY)
}

/**
 * Remove messages of aborted transactions: a transactional record of producer P is aborted when an
 * aborted transaction of P began at or before it and P's abort marker has not come since.
 */
module.exports = ({ messages, abortedTransactions }) => {
  if (!abortedTransactions || !abortedTransactions.length) {
    return messages
  }
  const remaining = abortedTransactions
    .map(t => ({ producerId: String(t.producerId), firstOffset: BigInt(t.firstOffset) }))
    .sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0))
  const aborted = new Set()

  return messages.filter(message => {
    const offset = BigInt(message.offset)
    while (remaining.length && remaining[0].firstOffset <= offset) {
      aborted.add(remaining.shift().producerId)
    }
    const { producerId, inTransaction } = message.batchContext
    if (isAbortMarker(message)) {
      aborted.delete(String(producerId))
    } else if (inTransaction && aborted.has(String(producerId))) {
      return false
    }
    return true
  })
}

module.exports.mplpSortedAbortedTransactions = true

"""Chapter 8's questions — What attention costs, and how to pay less: the cost measured, the online
softmax, the key–value cache and grouped-query attention, sliding windows, linear attention.

``quiz("ch8")`` shows them at the end of the chapter (see :mod:`utils.quiz`). Each option is
``(text, right or not, why)``: every option, wrong ones too, says why.
"""

from utils.quiz.core import Question, ask

__all__ = ["QUESTIONS"]

QUESTIONS: tuple[Question, ...] = (
    ask("Predict from section 1: the readable attention of one head needs 129 MiB at its peak for "
       "\\(T = 4096\\). How much does it need for \\(T = 8192\\)?",
       ("About 514 MiB: four times as much, since its two \\(T \\times T\\) matrices grow with \\(T^2\\).", True,
        "Right: measured in section 1, 129 MiB then 514 MiB, exactly two \\(T \\times T\\) matrices of "
        "float32 and the small output. These are counts, the same on every machine."),
       ("About 258 MiB: twice as much, since the queries, keys, values and output it holds all grow in proportion to \\(T\\).", False,
        "\\(Q\\), \\(K\\) and \\(V\\) do double, but they are a few MiB; the scores and the weights "
        "hold one number per pair of positions, and there are four times as many pairs."),
       ("About 129 MiB again: the softmax works one row at a time.", False,
        "The readable version builds every row at once: the whole \\((T, T)\\) matrix of scores, then "
        "the whole matrix of weights. Section 2 is about not doing that.")),
    ask("Why does a stable softmax subtract the maximum score \\(m\\) before taking exponentials?",
       ("So that no exponential exceeds 1: \\(e^{89}\\) already overflows float32, and \\(m\\) cancels "
        "in the ratio.", True,
        "Right: \\(e^{e_j - m} / \\sum_k e^{e_k - m}\\) is the same softmax, and every term is at most 1."),
       ("To make the weights sharper, so that the position with the largest score takes more of the weight than the "
        "others.", False,
        "The weights do not change at all: the factor \\(e^{-m}\\) is in the numerator and the "
        "denominator, and cancels."),
       ("Because exp is only defined for negative numbers in float32.", False,
        "exp takes any number; the trouble is that for inputs above about 88.7 the result is larger than "
        "the largest float32 and becomes inf.")),
    ask("Two partial results are merged, and block 2's maximum is larger: \\(m_2 > m_1\\). What "
       "happens to block 1's normaliser \\(\\ell_1\\) and output \\(o_1\\)?",
       ("Nothing: they were computed before block 2 arrived, so they are final; only block 2's sums need rescaling.", False,
        "That is the classic mistake: they were computed against \\(m_1\\), and each term "
        "\\(e^{e_j - m_1}\\) must become \\(e^{e_j - m_2}\\) to be added to block 2's."),
       ("Both are multiplied by \\(e^{m_1 - m_2}\\), less than 1, to bring them to the common maximum.", True,
        "Right: \\(e^{e_j - m_1} e^{m_1 - m_2} = e^{e_j - m_2}\\), so the rescaled sums are exactly those "
        "a single pass against \\(m_2\\) would have made."),
       ("Both are divided by block 2's normaliser \\(\\ell_2\\), so that the weights sum to 1.", False,
        "Dividing comes once, at the very end, by the merged \\(\\ell\\); a partial result keeps "
        "its sums unnormalised.")),
    ask("Predict from section 2: attention computed in blocks of 256 keys needs 13 MiB at its peak for "
       "\\(T = 4096\\). How much for \\(T = 8192\\)?",
       ("About 52 MiB: four times as much, like any attention, since there are four times as many scores.", False,
        "There are four times as many scores, but they are never all held at once: a tile of 256 keys "
        "for all \\(T\\) queries is, and it only doubles."),
       ("About 13 MiB again: the block size is fixed, so the memory is fixed.", False,
        "The block size fixes the number of keys in a tile, not the number of queries: every tile "
        "has one row per query, \\(T \\times 256\\) numbers."),
       ("About 26 MiB: twice as much, a few \\((T, 256)\\) tiles.", True,
        "Right: measured in section 2, 13 MiB then 26 MiB, about three tiles of \\(T \\times 256\\) "
        "numbers at every length: memory \\(O(T \\cdot \\text{block})\\).")),
    ask("Does attention computed block by block do less arithmetic than the readable version?",
       ("Yes: it computes \\(T \\times \\text{block}\\) scores instead of \\(T^2\\).", False,
        "That is one tile; it computes a tile for every block of keys, \\(T^2\\) scores in all "
        "(fewer only with a causal mask, whose future blocks it skips)."),
       ("No: every query still meets every key; what shrinks is the memory, and the traffic to it.", True,
        "Right: the multiply-adds are the same, \\(2 T^2 d\\). On a GPU the saving in memory traffic "
        "is what makes FlashAttention fast."),
       ("Yes: the online softmax needs one pass over the scores instead of two.", False,
        "It saves a pass over stored scores, but each score is still computed once and multiplied "
        "with its value; the arithmetic is the same.")),
    ask("What does FlashAttention keep from the forward pass to compute the gradients?",
       ("\\(Q\\), \\(K\\), \\(V\\), the output and one number per query, \\(L = m + \\log \\ell\\).", True,
        "Right: each tile of weights is recomputed as \\(e^{S - L}\\) in the backward pass. Section 2 measured "
        "\\(T (4d + 1)\\) numbers kept by `F.scaled_dot_product_attention`, instead of \\(T^2\\)."),
       ("The \\(T \\times T\\) weights in half precision, which halves their memory.", False,
        "Half precision would halve a \\(T^2\\) cost and keep it \\(T^2\\); FlashAttention keeps "
        "no \\(T \\times T\\) matrix at all."),
       ("Every tile of scores it computed, as autograd does for the blockwise loop, so that nothing is computed twice.", False,
        "That is what autograd does for a Python loop (section 2 measured 2.65 matrices' worth); "
        "FlashAttention's own backward pass avoids it by recomputing the tiles.")),
    ask("Predict from section 3: chapter 7's decoder caches 512 bytes per token and layer with 4 key/value "
       "heads. With grouped-query attention and one key/value head shared by the 4 query heads, how many?",
       ("512 bytes: the model still has 4 query heads, and each needs its keys.", False,
        "The 4 query heads read the same cached key and value head; only the queries keep 4 heads, "
        "and queries are never cached."),
       ("128 bytes: a key and a value of 16 numbers, 4 bytes each.", True,
        "Right: \\(2 \\cdot g \\cdot d \\cdot 4\\) bytes with \\(g = 1\\), \\(d = 16\\): the cache shrinks "
        "by \\(h / g = 4\\), and section 3 checked it against the tensors the decoder holds."),
       ("2,048 bytes: each query head keeps its own copy of the shared head.", False,
        "The copy is made just before attending, inside one step, and dropped; the cache stores "
        "each key/value head once.")),
    ask("What is grouped-query attention with \\(g\\) key/value heads, seen from multi-head attention?",
       ("Multi-head attention whose queries are averaged into \\(g\\) groups, so that only \\(g\\) heads attend.", False,
        "The \\(h\\) query heads stay separate, each with its own \\(W^Q_i\\) and its own weights; "
        "section 3's \\(g = 1\\) model still has 4 attention maps."),
       ("Multi-head attention in which each query head reads only \\(1/g\\) of the keys.", False,
        "Every query head reads every key; what is shared is the projection that makes the keys "
        "and values, not the keys themselves."),
       ("Multi-head attention with the key and value projections tied within each group of \\(h/g\\) "
        "query heads.", True,
        "Right: section 3 copied each of the \\(g\\) key/value heads into its group of a "
        "`MultiHeadAttention` and got the same output; \\(g = h\\) is multi-head attention itself.")),
    ask("Predict from section 4: every layer attends under a causal sliding window of 5 positions (itself and "
       "the 4 before). How far back can an output of the third layer depend on the input?",
       ("4 positions: a window is a window, however many layers there are.", False,
        "Layer 2 reads layer-1 outputs that each read 4 positions further back: the reach adds up "
        "layer by layer."),
       ("12 positions: each layer adds \\(w - 1 = 4\\).", True,
        "Right: \\(L (w - 1)\\), the power of the mask; section 4's three-layer model was right "
        "up to position 12 and at chance beyond."),
       ("15 positions: each layer adds a whole window of 5.", False,
        "A window of 5 includes the position itself, so it reaches 4 back; three layers reach "
        "\\(3 \\cdot 4 = 12\\).")),
    ask("Why can causal linear attention run as a recurrent network, one token at a time?",
       ("Because it can only be computed one token at a time, like a GRU, which is why it trains slowly.", False,
        "It trains in parallel, with cumulative sums over the whole sequence; section 5 checked that "
        "the token-by-token recurrence gives the same numbers."),
       ("Because its feature map \\(\\phi\\) is a small recurrent network applied to each key.", False,
        "\\(\\phi(x) = \\mathrm{elu}(x) + 1\\) acts on each number separately; it has no state "
        "and no parameters."),
       ("Because \\(\\phi(q)^\\top \\phi(k)\\) factors, so the past keys and values sum into a state "
        "\\(S_t, z_t\\) of fixed size, updated once per token.", True,
        "Right: \\(S_t = S_{t-1} + \\phi(k_t) v_t^\\top\\) and \\(z_t = z_{t-1} + \\phi(k_t)\\), "
        "\\(d_k d_v + d_k\\) numbers per head whatever \\(t\\) is.")),
    ask("Predict from section 5: chapter 7's Transformer, trained the same way but with linear attention in "
       "place of softmax, reverses strings of 30 symbols. Exact match?",
       ("About 0%: the decoder reads the source through a fixed-size state.", True,
        "Right: in every seed it got no string right from 24 symbols on, while softmax attention got "
        "them all: chapter 1's bottleneck, returned."),
       ("About 100%, like softmax attention: the same parameters, data and training.", False,
        "The parameters are the same, but the source is summed into \\(S\\) and \\(z\\) before "
        "any query arrives, 272 numbers per head however long it is."),
       ("About 50%: linear attention is an approximation of softmax, so it loses about half the accuracy.", False,
        "It is not an approximation of softmax but another similarity; and the loss is not spread "
        "evenly: short strings are right, long ones all wrong.")),
)
